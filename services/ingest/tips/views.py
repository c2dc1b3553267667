from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, StringConstraints

from services.ingest.auth import Principal, Role, require
from services.ingest.tips import service
from shared.schemas import Strict

operator_or_admin = require(Role.operator, Role.admin)
router = APIRouter(prefix="/v1/tips", tags=["tips"], dependencies=[Depends(operator_or_admin)])


class TipPage(BaseModel):
    total: int
    tips: list[service.Tip]


class Converted(BaseModel):
    tip: service.Tip
    report_id: str
    status_url: str


class DismissIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such tip")


def _conflict(exc: service.AlreadyDecided) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, f"already decided: {exc.status}")


@router.get("", response_model=TipPage)
def list_tips(request: Request, status_: Literal["draft", "converted", "dismissed"] = Query("draft", alias="status"),
              limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9)) -> TipPage:
    """Tips received by SMS or WhatsApp: drafts wait for an operator. The sender's number is
    shown masked only (it is the reporter's identity)."""
    total, tips = service.list_tips(request.app.state.sessions, status=status_, limit=limit, offset=offset)
    return TipPage(total=total, tips=tips)


@router.get("/{tip_id}", response_model=service.Tip)
def get_tip(tip_id: str, request: Request) -> service.Tip:
    try:
        return service.get_tip(request.app.state.sessions, tip_id)
    except service.NoSuchTip:
        raise _not_found() from None


@router.post("/{tip_id}/report", response_model=Converted, status_code=status.HTTP_202_ACCEPTED)
def convert(tip_id: str, body: service.TipReport, request: Request,
            principal: Principal = Depends(operator_or_admin)) -> Converted:
    """Make the tip a report: the facts given here (ad_text left out: the tip's text), the
    tip's channel, its sender as the confidential reporter phone. Screened and alerted like
    any report; the tip becomes converted. 409 if already decided. Audited."""
    try:
        tip, report_id = service.convert(request.app.state.sessions, tip_id=tip_id, content=body,
                                         actor=principal.token_id)
    except service.NoSuchTip:
        raise _not_found() from None
    except service.AlreadyDecided as exc:
        raise _conflict(exc) from None
    request.app.state.relay.poke()
    return Converted(tip=tip, report_id=report_id,
                     status_url=f"{request.app.state.settings.resolved_public_url}/v1/reports/{report_id}")


@router.post("/{tip_id}/dismiss", response_model=service.Tip)
def dismiss(tip_id: str, body: DismissIn, request: Request,
            principal: Principal = Depends(operator_or_admin)) -> service.Tip:
    """Not a report (spam, a test, nothing to act on): dismissed with the reason. 409 if
    already decided. Audited."""
    try:
        return service.dismiss(request.app.state.sessions, tip_id=tip_id, reason=body.reason,
                               actor=principal.token_id)
    except service.NoSuchTip:
        raise _not_found() from None
    except service.AlreadyDecided as exc:
        raise _conflict(exc) from None
