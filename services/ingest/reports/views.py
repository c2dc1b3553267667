from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, StringConstraints

from services.ingest.auth import Principal, Role, admin_only, require
from services.ingest.reports import service
from shared.schemas import ReportAccepted, ReportIn, Strict

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ReportAccepted)
def submit_report(body: ReportIn, request: Request, response: Response,
                  principal: Principal = Depends(require(Role.operator, Role.admin)),
                  idempotency_key: str | None = Header(default=None, max_length=200)) -> ReportAccepted:
    try:
        report_id, created = service.submit(request.app.state.sessions, body, principal.token_id, idempotency_key)
    except service.IdempotencyConflict:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "Idempotency-Key was already used for a different report body") from None
    if created:
        request.app.state.relay.poke()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return ReportAccepted(id=report_id, status_url=f"{request.app.state.settings.resolved_public_url}/v1/reports/{report_id}")


@router.get("/{report_id}")
def get_report(report_id: str, request: Request,
               principal: Principal = Depends(require(Role.operator, Role.admin, Role.agency))) -> dict:
    sessions = request.app.state.sessions
    report = service.get_report(sessions, report_id)
    # Operators see their own reports; agency officers only reports routed to their agency.
    visible = report is not None and (
        principal.role == Role.admin
        or (principal.role == Role.operator and report.submitted_by == principal.token_id)
        or principal.role == Role.agency
    )
    if not visible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    view = service.timeline(sessions, report, principal.agency_code if principal.role == Role.agency else None)
    if principal.role == Role.agency and not view["alerts"]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    return view


class ReportSummary(BaseModel):
    id: str
    received_at: datetime
    channel: str
    screened_at: datetime | None
    risk_level: str | None
    categories: list[str]


class ReportPage(BaseModel):
    total: int
    reports: list[ReportSummary]


@router.get("", response_model=ReportPage)
def list_reports(request: Request, limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9),
                 principal: Principal = Depends(require(Role.operator, Role.admin))) -> ReportPage:
    """Operators see the reports they submitted; admins all."""
    mine = principal.token_id if principal.role == Role.operator else None
    total, rows = service.list_reports(request.app.state.sessions, mine, limit, offset)
    return ReportPage(total=total, reports=rows)


class Reporter(BaseModel):
    report_id: str
    reporter_name: str | None
    reporter_phone: str | None
    desa: str | None
    purged: bool


@router.get("/{report_id}/reporter", response_model=Reporter)
def read_reporter(report_id: str, request: Request, admin: Principal = Depends(admin_only)) -> dict:
    """The reporter's identity and the desa: confidential (UU 21/2007), admins only, every read audited."""
    reporter = service.read_reporter(request.app.state.sessions, report_id, admin.token_id)
    if reporter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    return reporter


class HoldIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


@router.put("/{report_id}/hold", status_code=status.HTTP_204_NO_CONTENT)
def hold_report(report_id: str, body: HoldIn, request: Request, admin: Principal = Depends(admin_only)) -> Response:
    """Keep this report's personal data past the retention period (a case needs it)."""
    if not service.set_hold(request.app.state.sessions, report_id, body.reason, admin.token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{report_id}/hold", status_code=status.HTTP_204_NO_CONTENT)
def release_report(report_id: str, request: Request, admin: Principal = Depends(admin_only)) -> Response:
    if not service.set_hold(request.app.state.sessions, report_id, None, admin.token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class FalsePositiveIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class FalsePositiveOut(BaseModel):
    report_id: str
    entry_id: str
    suppressed_values: list[str]


@router.post("/{report_id}/matches/{entry_id}/false-positive", response_model=FalsePositiveOut)
def mark_false_positive(report_id: str, entry_id: str, body: FalsePositiveIn, request: Request,
                        admin: Principal = Depends(admin_only)) -> FalsePositiveOut:
    """A reviewer's decision: this match is wrong. The values that matched are never again
    matched against this entry (who, when and why are kept and audited)."""
    try:
        values = service.mark_false_positive(request.app.state.sessions, report_id, entry_id, body.reason,
                                             admin.token_id)
    except service.NoSuchMatch:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such match for this report") from None
    return FalsePositiveOut(report_id=report_id, entry_id=entry_id, suppressed_values=values)
