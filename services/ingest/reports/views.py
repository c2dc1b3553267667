from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from services.ingest.auth import Principal, Role, require
from services.ingest.reports import service
from shared.schemas import ReportAccepted, ReportIn

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
