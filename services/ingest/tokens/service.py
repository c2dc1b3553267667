"""API tokens: created by admins, shown once, stored as SHA-256 hashes."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.auth import Role, hash_token
from services.ingest.models import ApiToken
from shared.db import now
from shared.schemas import new_id


def issue(sessions: sessionmaker[Session], name: str, role: Role, agency_code: str | None,
          created_by: str) -> tuple[ApiToken, str]:
    secret = "wsp_" + secrets.token_urlsafe(32)
    row = ApiToken(id=new_id("tok"), name=name, role=role.value, agency_code=agency_code,
                   token_hash=hash_token(secret), created_by=created_by)
    with sessions.begin() as s:
        s.add(row)
        audit.record(s, created_by, "token.create", "token", row.id, None,
                     {"name": name, "role": role.value, "agency_code": agency_code})  # never the secret
    return row, secret


def revoke(sessions: sessionmaker[Session], token_id: str, actor: str) -> bool:
    with sessions.begin() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now()
        audit.record(s, actor, "token.revoke", "token", token_id, {"revoked_at": None},
                     {"revoked_at": row.revoked_at.isoformat()})
        return True


def list_all(sessions: sessionmaker[Session]) -> list[ApiToken]:
    with sessions() as s:
        return list(s.scalars(select(ApiToken).order_by(ApiToken.created_at)))
