from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from services.ingest.errors import invalid
from services.ingest.auth import Principal, admin_only
from services.ingest.routes import service
from shared.schemas import Route, RouteIn

router = APIRouter(prefix="/v1/routes", tags=["routing"], dependencies=[Depends(admin_only)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Route)
def create_route(body: RouteIn, request: Request, admin: Principal = Depends(admin_only)) -> Route:
    try:
        with request.app.state.sessions.begin() as s:
            return service.create(s, body, admin.token_id)
    except service.UnknownAgency:
        raise invalid(("body", "agency_code"), "no such agency") from None


@router.get("", response_model=list[Route])
def list_routes(request: Request) -> list[Route]:
    return service.list_all(request.app.state.sessions)


@router.get("/{route_id}", response_model=Route)
def get_route(route_id: str, request: Request) -> Route:
    route = service.get(request.app.state.sessions, route_id)
    if route is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such route")
    return route


@router.put("/{route_id}", response_model=Route)
def replace_route(route_id: str, body: RouteIn, request: Request, admin: Principal = Depends(admin_only)) -> Route:
    try:
        route = service.replace(request.app.state.sessions, route_id, body, admin.token_id)
    except service.UnknownAgency:
        raise invalid(("body", "agency_code"), "no such agency") from None
    if route is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such route")
    return route


@router.delete("/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_route(route_id: str, request: Request, admin: Principal = Depends(admin_only)) -> Response:
    if not service.delete(request.app.state.sessions, route_id, admin.token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such route")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
