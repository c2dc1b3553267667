from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, model_validator

from services.ingest.agencies import service as agencies
from services.ingest.errors import invalid
from services.ingest.auth import Principal, Role, admin_only
from services.ingest.tokens import service
from shared.schemas import Strict

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    agency_code: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _agency_binding(self):
        if (self.role == Role.agency) != (self.agency_code is not None):
            raise ValueError("agency_code is required for role agency and only for it")
        return self


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    agency_code: str | None
    created_at: datetime
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str  # shown once


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(body: TokenIn, request: Request, principal: Principal = Depends(admin_only)) -> TokenCreated:
    sessions = request.app.state.sessions
    if body.agency_code and agencies.get(sessions, body.agency_code) is None:
        raise invalid(("body", "agency_code"), "no such agency")
    row, secret = service.issue(sessions, body.name, body.role, body.agency_code, principal.token_id)
    return TokenCreated(id=row.id, name=row.name, role=row.role, agency_code=row.agency_code,
                        created_at=row.created_at, token=secret)


@router.get("", response_model=list[TokenOut], dependencies=[Depends(admin_only)])
def list_tokens(request: Request) -> list[TokenOut]:
    return [TokenOut(id=r.id, name=r.name, role=r.role, agency_code=r.agency_code, created_at=r.created_at,
                     revoked_at=r.revoked_at) for r in service.list_all(request.app.state.sessions)]


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, request: Request, principal: Principal = Depends(admin_only)) -> Response:
    if not service.revoke(request.app.state.sessions, token_id, principal.token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such active token")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
