"""The agency directory: who receives which alert categories, by which addresses."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from shared.models import AgencyRow, BrokenContact
from shared.schemas import Agency, AgencyIn


class AgencyExists(Exception):
    pass


def to_agency(row: AgencyRow) -> Agency:
    return Agency(code=row.code, name=row.name, emails=row.emails, phones=row.phones, receives=row.receives)


def create(s: Session, body: AgencyIn, actor: str = "system") -> Agency:
    if s.get(AgencyRow, body.code) is not None:
        raise AgencyExists(body.code)
    row = AgencyRow(**body.model_dump(mode="json"))
    s.add(row)
    s.flush()
    audit.record(s, actor, "agency.create", "agency", body.code, None, body.model_dump(mode="json"))
    return to_agency(row)


def replace(sessions: sessionmaker[Session], code: str, body: AgencyIn, actor: str) -> Agency | None:
    with sessions.begin() as s:
        row = s.get(AgencyRow, code)
        if row is None:
            return None
        before = to_agency(row).model_dump(mode="json")
        for key, value in body.model_dump(mode="json", exclude={"code"}).items():
            setattr(row, key, value)
        audit.record(s, actor, "agency.update", "agency", code, before, body.model_dump(mode="json"))
        return to_agency(row)


def list_all(sessions: sessionmaker[Session]) -> list[Agency]:
    with sessions() as s:
        return [to_agency(r) for r in s.scalars(select(AgencyRow).order_by(AgencyRow.code))]


def get(sessions: sessionmaker[Session], code: str) -> Agency | None:
    with sessions() as s:
        row = s.get(AgencyRow, code)
        return to_agency(row) if row else None


def broken_contacts(sessions: sessionmaker[Session], code: str) -> list[dict]:
    with sessions() as s:
        rows = s.scalars(select(BrokenContact).where(BrokenContact.agency_code == code).order_by(BrokenContact.at))
        return [{"address": r.address, "reason": r.reason, "at": r.at} for r in rows]
