"""Browser sessions on top of API tokens: HttpOnly, SameSite=Strict cookie holding a random id;
a per-session CSRF token in every form."""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from fastapi import HTTPException, Request, Response, status
from sqlalchemy import delete

from services.ingest.auth import BOOTSTRAP_ADMIN, Principal, Role, hash_token
from services.ingest.models import ApiToken
from services.ingest.web.models import WebSession
from shared.db import now

COOKIE = "waspada_session"
LOGIN_COOKIE = "waspada_login_csrf"
LIFETIME = timedelta(hours=12)


def principal_for_hash(request: Request, token_hash: str) -> Principal | None:
    settings = request.app.state.settings
    if settings.admin_token and hmac.compare_digest(hash_token(settings.admin_token.get_secret_value()), token_hash):
        return Principal(BOOTSTRAP_ADMIN, Role.admin)
    with request.app.state.sessions() as s:
        row = s.query(ApiToken).filter_by(token_hash=token_hash).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, Role(row.role), row.agency_code)


def start(request: Request, response: Response, token: str) -> Principal | None:
    token_hash = hash_token(token.strip())
    principal = principal_for_hash(request, token_hash)
    if principal is None:
        return None
    session_id = secrets.token_urlsafe(32)
    with request.app.state.sessions.begin() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < now()))
        s.add(WebSession(id=session_id, token_hash=token_hash, csrf=secrets.token_urlsafe(24),
                         expires_at=now() + LIFETIME))
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", max_age=int(LIFETIME.total_seconds()),
                        secure=request.url.scheme == "https", path="/")
    return principal


def end(request: Request, response: Response) -> None:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        with request.app.state.sessions.begin() as s:
            s.execute(delete(WebSession).where(WebSession.id == session_id))
    response.delete_cookie(COOKIE, path="/")


def current(request: Request) -> tuple[Principal, WebSession] | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    with request.app.state.sessions() as s:
        row = s.get(WebSession, session_id)
    if row is None or row.expires_at < now():
        return None
    principal = principal_for_hash(request, row.token_hash)
    return (principal, row) if principal else None


def check_csrf(row: WebSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(row.csrf, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong: reload the page")
