from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from services.ingest.alerts import service
from services.ingest.auth import Principal, Role, require

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("")
def list_alerts(request: Request, principal: Principal = Depends(require(Role.admin, Role.agency)),
                status_: str | None = Query(default=None, alias="status",
                                            pattern="^(queued|sent|delivered|failed|acknowledged)$"),
                limit: int = Query(default=100, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9)) -> list[dict]:
    """Admins see every alert (e.g. ?status=failed: what could not be delivered); agency
    officers see their own agency's."""
    agency = principal.agency_code if principal.role == Role.agency else None
    return service.list_alerts(request.app.state.sessions, agency, status_, limit, offset)


@router.post("/{alert_id}/ack", status_code=status.HTTP_202_ACCEPTED)
def acknowledge(alert_id: str, request: Request,
                principal: Principal = Depends(require(Role.admin, Role.agency))) -> dict:
    sessions = request.app.state.sessions
    alert = service.get(sessions, alert_id)
    if alert is None or (principal.role == Role.agency and alert.agency_code != principal.agency_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    count = service.acknowledge(sessions, alert, principal.token_id)
    request.app.state.relay.poke()
    return {"alert_id": alert_id, "acknowledged": count}
