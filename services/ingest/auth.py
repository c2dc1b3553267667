"""Bearer-token authentication and role checks."""
from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
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


class RateLimiter:
    """A token bucket per API token (per ingest process): `rate` requests a second on average,
    bursts up to `burst`. Keeps one misbehaving script from starving the hotline."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_needed(self, key: str) -> float:
        """0 if the request may go now, else seconds until it could."""
        with self._lock:
            at = time.monotonic()
            tokens, last = self._buckets.get(key, (float(self.burst), at))
            tokens = min(float(self.burst), tokens + (at - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, at)
                return 0.0
            self._buckets[key] = (tokens, at)
            return (1 - tokens) / self.rate


def current_principal(request: Request,
                      creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    principal = authenticate(request, creds.credentials) if creds else None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        wait = limiter.wait_needed(principal.token_id)
        if wait:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "rate limit for this token exceeded",
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return principal


def require(*roles: Role):
    def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
        return principal

    return check


admin_only = require(Role.admin)
