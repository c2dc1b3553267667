from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status

from services.ingest.agencies import service
from services.ingest.errors import invalid
from services.ingest.auth import Principal, admin_only
from shared.schemas import Agency, AgencyIn

router = APIRouter(prefix="/v1/agencies", tags=["agencies"], dependencies=[Depends(admin_only)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Agency)
def create_agency(body: AgencyIn, request: Request, admin: Principal = Depends(admin_only)) -> Agency:
    try:
        with request.app.state.sessions.begin() as s:
            return service.create(s, body, admin.token_id)
    except service.AgencyExists:
        raise HTTPException(status.HTTP_409_CONFLICT, f"agency {body.code} already exists") from None


@router.get("", response_model=list[Agency])
def list_agencies(request: Request) -> list[Agency]:
    return service.list_all(request.app.state.sessions)


@router.get("/{code}", response_model=Agency)
def get_agency(code: str, request: Request) -> Agency:
    agency = service.get(request.app.state.sessions, code)
    if agency is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such agency")
    return agency


@router.put("/{code}", response_model=Agency)
def replace_agency(code: str, body: AgencyIn, request: Request, admin: Principal = Depends(admin_only)) -> Agency:
    if body.code != code:
        raise invalid(("body", "code"), "must equal the agency code in the path")
    agency = service.replace(request.app.state.sessions, code, body, admin.token_id)
    if agency is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such agency")
    return agency


@router.get("/{code}/broken-contacts")
def broken_contacts(code: str, request: Request) -> list[dict]:
    """Addresses and numbers a provider refused permanently; the notifier no longer uses them."""
    if service.get(request.app.state.sessions, code) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such agency")
    return service.broken_contacts(request.app.state.sessions, code)
