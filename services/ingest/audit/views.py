from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from services.ingest.audit import service
from services.ingest.auth import admin_only

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(admin_only)])


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict | None
    after: dict | None
    hash: str


class AuditPage(BaseModel):
    records: list[AuditOut]
    next_before_seq: int | None  # pass as before_seq for the next (older) page


@router.get("", response_model=AuditPage)
def list_audit(request: Request,
               actor: str | None = Query(default=None, max_length=80),
               action: str | None = Query(default=None, max_length=80,
                                          description="exact action, or a prefix such as 'watchlist'"),
               target_type: str | None = Query(default=None, max_length=40),
               target_id: str | None = Query(default=None, max_length=120),
               since: datetime | None = None, until: datetime | None = None,
               before_seq: int | None = Query(default=None, ge=1, le=2**62),
               limit: int = Query(default=100, ge=1, le=1000)) -> AuditPage:
    """Newest first. Reads of the log are not themselves audited (admins only)."""
    rows = service.search(request.app.state.sessions, actor=actor, action=action, target_type=target_type,
                          target_id=target_id, since=since, until=until, limit=limit, before_seq=before_seq)
    return AuditPage(records=rows, next_before_seq=rows[-1]["seq"] if len(rows) == limit else None)
