"""Watchlist curation. The database is the source of truth; each change also goes, through the
outbox and in commit order, to the compacted watchlist.v1 topic (keyed by entry id, tombstone on
delete, the entry version in a header so that a replay never undoes a newer change)."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import now
from shared.models import WatchlistEntryRow
from shared.outbox import enqueue
from shared.schemas import WatchlistEntry, WatchlistEntryIn, WatchlistEntryPatch, new_id
from shared.topics import WATCHLIST

ORIGIN = "ingest"


class EntryExists(Exception):
    pass


def to_entry(row: WatchlistEntryRow) -> WatchlistEntry:
    return WatchlistEntry(**row.data, id=row.id, version=row.version, updated_at=row.updated_at)


def _publish(s: Session, row: WatchlistEntryRow) -> None:
    headers = {"version": str(row.version)}
    if row.deleted:
        enqueue(s, ORIGIN, WATCHLIST.name, row.id, None, headers)
    else:
        enqueue(s, ORIGIN, WATCHLIST.name, row.id, to_entry(row), headers)


def create(s: Session, body: WatchlistEntryIn) -> WatchlistEntry:
    """Add an entry inside the caller's transaction (so that imports are all-or-nothing)."""
    entry_id = body.id or new_id("wl")
    row = s.get(WatchlistEntryRow, entry_id, with_for_update=True)
    data = body.model_dump(mode="json", exclude={"id"})
    if row is not None and not row.deleted:
        raise EntryExists(entry_id)
    if row is None:
        row = WatchlistEntryRow(id=entry_id, version=1, data=data, deleted=False, updated_at=now())
        s.add(row)
    else:  # re-listing a deleted id continues its version line
        row.version, row.data, row.deleted, row.updated_at = row.version + 1, data, False, now()
    s.flush()
    _publish(s, row)
    return to_entry(row)


def get(sessions: sessionmaker[Session], entry_id: str) -> WatchlistEntry | None:
    with sessions() as s:
        row = s.get(WatchlistEntryRow, entry_id)
        return to_entry(row) if row is not None and not row.deleted else None


def search(sessions: sessionmaker[Session], q: str | None, kind: str | None,
           limit: int, offset: int) -> tuple[int, list[WatchlistEntry]]:
    query = select(WatchlistEntryRow).where(WatchlistEntryRow.deleted.is_(False))
    if kind:
        query = query.where(WatchlistEntryRow.data["kind"].as_string() == kind)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(or_(func.lower(WatchlistEntryRow.id).like(pattern),
                                func.lower(WatchlistEntryRow.data["name"].as_string()).like(pattern)))
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(WatchlistEntryRow.id).limit(limit).offset(offset)).all()
        return total or 0, [to_entry(r) for r in rows]


def update(sessions: sessionmaker[Session], entry_id: str, patch: WatchlistEntryPatch) -> WatchlistEntry | None:
    with sessions.begin() as s:
        row = s.get(WatchlistEntryRow, entry_id, with_for_update=True)
        if row is None or row.deleted:
            return None
        changes = patch.model_dump(mode="json", exclude_unset=True)
        merged = WatchlistEntryIn.model_validate({**row.data, **changes})  # whole entry stays valid
        row.data = merged.model_dump(mode="json", exclude={"id"})
        row.version += 1
        row.updated_at = now()
        _publish(s, row)
        return to_entry(row)


def delete(sessions: sessionmaker[Session], entry_id: str) -> bool:
    with sessions.begin() as s:
        row = s.get(WatchlistEntryRow, entry_id, with_for_update=True)
        if row is None or row.deleted:
            return False
        row.deleted, row.version, row.updated_at = True, row.version + 1, now()
        _publish(s, row)
        return True
