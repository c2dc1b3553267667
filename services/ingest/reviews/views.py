from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, StringConstraints, model_validator

from services.ingest.auth import Principal, admin_only
from services.ingest.reviews import service
from shared.schemas import Strict

router = APIRouter(prefix="/v1/reviews", tags=["reviews"], dependencies=[Depends(admin_only)])


class ReviewPage(BaseModel):
    total: int
    reviews: list[service.Review]


class DecisionIn(Strict):
    decision: Literal["confirm", "reject"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _reason_for_rejection(self):
        if self.decision == "reject" and not self.reason:
            raise ValueError("reason: a rejection says why (it becomes a false-positive suppression)")
        return self


@router.get("", response_model=ReviewPage)
def list_reviews(request: Request, status_: Literal["pending", "confirmed", "rejected"] = Query("pending", alias="status"),
                 limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9)) -> ReviewPage:
    """Possible matches: scored between the review threshold (WASPADA_REVIEW_THRESHOLD) and the
    alert threshold. No agency is told of one until a reviewer confirms it."""
    total, reviews = service.list_reviews(request.app.state.sessions, status=status_, limit=limit, offset=offset)
    return ReviewPage(total=total, reviews=reviews)


@router.post("/{report_id}/{entry_id}", response_model=service.Review)
def decide(report_id: str, entry_id: str, body: DecisionIn, request: Request,
           admin: Principal = Depends(admin_only)) -> service.Review:
    """confirm: the match alerts through the normal routes; reject: its values never again
    match that entry (a false-positive suppression). Audited."""
    try:
        review = service.decide(request.app.state.sessions, report_id=report_id, entry_id=entry_id,
                                confirm=body.decision == "confirm", reason=body.reason, actor=admin.token_id)
    except service.NoSuchReview:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such possible match") from None
    except service.AlreadyDecided as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"already decided: {exc.status}") from None
    if body.decision == "confirm":
        request.app.state.relay.poke()
    return review
