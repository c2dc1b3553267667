from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel

from services.ingest.auth import Principal, Role, require
from services.ingest.feeds import service
from shared.db import run_db
from shared.schemas import FeedPostSummary, FeedSource

router = APIRouter(prefix="/v1/feeds", tags=["feeds"])

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json", "text/plain",
                "application/octet-stream")


@router.post("/{source}/ads", status_code=status.HTTP_202_ACCEPTED, response_model=FeedPostSummary,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def post_ads(request: Request, source: Annotated[FeedSource, Path(description="the feed's name")],
                   principal: Principal = Depends(require(Role.operator, Role.admin))) -> FeedPostSummary:
    """Job ads in bulk, one JSON object a line (FeedAdIn, or a schema.org JobPosting), up to
    10 MiB. Each line is taken whole or rejected with its line number and reason; an ad seen
    before (same url or same text) is counted on its report, never reported or alerted again."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in NDJSON_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the ads as application/x-ndjson")
    body = await request.body()
    if not body.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"loc": ["body"], "msg": "no ads: send one JSON object a line", "type": "value_error"}])
    summary = await run_db(lambda: service.post_ads(request.app.state.sessions, source=source, body=body,
                                                    actor=principal.token_id))
    if summary.accepted:
        request.app.state.relay.poke()
    return summary


class FeedCounts(BaseModel):
    source: str
    first_post_at: datetime
    last_post_at: datetime
    lines: int
    accepted: int
    duplicates: int
    rejected: int
    screened: int
    matched: int
    alerted: int
    seen_again: int


@router.get("", response_model=list[FeedCounts], dependencies=[Depends(require(Role.operator, Role.admin))])
def list_feeds(request: Request) -> list[dict]:
    """Every feed with its counts: lines, new ads, duplicates, rejected lines; of its reports
    how many were screened, matched a listed entry, alerted an agency and were seen again."""
    return service.list_feeds(request.app.state.sessions)
