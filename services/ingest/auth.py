"""Bearer-token authentication and role checks."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.ingest.models import ApiToken


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    agency = "agency"


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: Role
    agency_code: str | None = None


BOOTSTRAP_ADMIN = "bootstrap-admin"
_bearer = HTTPBearer(auto_error=False)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(request: Request, token: str) -> Principal | None:
    settings = request.app.state.settings
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(BOOTSTRAP_ADMIN, Role.admin)
    with request.app.state.sessions() as s:
        row = s.query(ApiToken).filter_by(token_hash=hash_token(token)).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, Role(row.role), row.agency_code)


def current_principal(request: Request,
                      creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    principal = authenticate(request, creds.credentials) if creds else None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(*roles: Role):
    def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
        return principal

    return check


admin_only = require(Role.admin)
