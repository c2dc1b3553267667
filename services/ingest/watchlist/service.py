"""Watchlist curation. The database is the source of truth; each change also goes, through the
outbox and in commit order, to the compacted watchlist.v1 topic (keyed by entry id, tombstone on
delete, the entry version in a header so that a replay never undoes a newer change). Every change
is audited in the same transaction."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.models import WatchlistDispute
from shared import watchlist_csv
from shared.db import now
from shared.models import OutboxMessage, WatchlistEntryRow
from shared.outbox import enqueue
from shared.schemas import WatchlistEntry, WatchlistEntryIn, WatchlistEntryPatch, new_id
from shared.topics import WATCHLIST

ORIGIN = "ingest"
SYSTEM = "system"


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


def create(s: Session, body: WatchlistEntryIn, actor: str = SYSTEM) -> WatchlistEntry:
    """Add an entry inside the caller's transaction."""
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
    audit.record(s, actor, "watchlist.create", "watchlist_entry", entry_id, None, data)
    return to_entry(row)


def get(sessions: sessionmaker[Session], entry_id: str) -> WatchlistEntry | None:
    with sessions() as s:
        row = s.get(WatchlistEntryRow, entry_id)
        return to_entry(row) if row is not None and not row.deleted else None


def search(sessions: sessionmaker[Session], q: str | None, kind: str | None,
           limit: int, offset: int, status: str | None = None) -> tuple[int, list[WatchlistEntry]]:
    query = select(WatchlistEntryRow).where(WatchlistEntryRow.deleted.is_(False))
    if kind:
        query = query.where(WatchlistEntryRow.data["kind"].as_string() == kind)
    if status == "retired":
        query = query.where(WatchlistEntryRow.data["status"].as_string() == "retired")
    elif status == "active":
        query = query.where(or_(WatchlistEntryRow.data["status"].as_string() == "active",
                                WatchlistEntryRow.data["status"].as_string().is_(None)))
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(or_(func.lower(WatchlistEntryRow.id).like(pattern),
                                func.lower(WatchlistEntryRow.data["name"].as_string()).like(pattern)))
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(WatchlistEntryRow.id).limit(limit).offset(offset)).all()
        return total or 0, [to_entry(r) for r in rows]


def update(sessions: sessionmaker[Session], entry_id: str, patch: WatchlistEntryPatch,
           actor: str = SYSTEM) -> WatchlistEntry | None:
    with sessions.begin() as s:
        return _update(s, entry_id, patch.model_dump(mode="json", exclude_unset=True), actor, "watchlist.update")


def _update(s: Session, entry_id: str, changes: dict, actor: str, action: str) -> WatchlistEntry | None:
    row = s.get(WatchlistEntryRow, entry_id, with_for_update=True)
    if row is None or row.deleted:
        return None
    before = dict(row.data)
    merged = WatchlistEntryIn.model_validate({**row.data, **changes})  # whole entry stays valid
    row.data = merged.model_dump(mode="json", exclude={"id"})
    if row.data == before:
        return to_entry(row)  # nothing changed: no new version, nothing to publish
    row.version += 1
    row.updated_at = now()
    _publish(s, row)
    audit.record(s, actor, action, "watchlist_entry", entry_id, before, row.data)
    return to_entry(row)


def delete(sessions: sessionmaker[Session], entry_id: str, actor: str = SYSTEM) -> bool:
    with sessions.begin() as s:
        row = s.get(WatchlistEntryRow, entry_id, with_for_update=True)
        if row is None or row.deleted:
            return False
        row.deleted, row.version, row.updated_at = True, row.version + 1, now()
        _publish(s, row)
        audit.record(s, actor, "watchlist.delete", "watchlist_entry", entry_id, row.data, None)
        return True


# ---------------------------------------------------------------- CSV import and export


def import_csv(sessions: sessionmaker[Session], text: str, actor: str) -> dict:
    """Validate the whole file (watchlist_csv.WatchlistCsvError lists every bad line), then
    write every entry in one transaction: new ids are created, changed ones updated, unchanged
    ones left alone. All or nothing."""
    entries = watchlist_csv.parse(io.StringIO(text))
    ids = [e.id for e in entries]
    created = updated = unchanged = 0
    at = now()
    with sessions.begin() as s:
        existing: dict[str, WatchlistEntryRow] = {}
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            existing.update({r.id: r for r in s.scalars(
                select(WatchlistEntryRow).where(WatchlistEntryRow.id.in_(chunk)).with_for_update())})
        inserts, outbox, changes = [], [], []
        for entry in entries:
            data = entry.model_dump(mode="json", exclude={"id"})
            row = existing.get(entry.id)
            if row is not None and not row.deleted and row.data == data:
                unchanged += 1
                continue
            if row is None:
                version, before = 1, None
                inserts.append({"id": entry.id, "version": 1, "data": data, "deleted": False, "updated_at": at})
                created += 1
            else:
                version, before = row.version + 1, (None if row.deleted else dict(row.data))
                row.version, row.data, row.deleted, row.updated_at = version, data, False, at
                updated += 1
            published = WatchlistEntry(**data, id=entry.id, version=version, updated_at=at)
            outbox.append({"origin": ORIGIN, "topic": WATCHLIST.name, "key": entry.id,
                           "value": published.model_dump_json().encode(), "headers": {"version": str(version)},
                           "created_at": at})
            changes.append(audit.Change("watchlist.import", "watchlist_entry", entry.id, before, data))
        s.flush()
        # Bulk statements: 100k rows in seconds rather than minutes of ORM unit-of-work.
        if inserts:
            s.execute(WatchlistEntryRow.__table__.insert(), inserts)
        if outbox:
            s.execute(OutboxMessage.__table__.insert(), outbox)
        audit.record_many(s, actor, changes)
        audit.record(s, actor, "watchlist.import.file", "watchlist_import", hashlib.sha256(text.encode()).hexdigest()[:40],
                     None, {"rows": len(entries), "created": created, "updated": updated, "unchanged": unchanged})
    return {"rows": len(entries), "created": created, "updated": updated, "unchanged": unchanged}


def export_csv(sessions: sessionmaker[Session]) -> Iterator[str]:
    """Every entry (active and retired), in id order, in the import format."""
    buffer = io.StringIO()
    watchlist_csv.write([], buffer)  # header
    yield buffer.getvalue()
    last = ""
    while True:
        with sessions() as s:
            rows = s.scalars(select(WatchlistEntryRow).where(WatchlistEntryRow.deleted.is_(False),
                                                             WatchlistEntryRow.id > last)
                             .order_by(WatchlistEntryRow.id).limit(2000)).all()
        if not rows:
            return
        last = rows[-1].id
        buffer = io.StringIO()
        watchlist_csv.write_rows([to_entry(r) for r in rows], buffer)
        yield buffer.getvalue()


# ---------------------------------------------------------------- disputes


def _dispute(row: WatchlistDispute) -> dict:
    return {"id": row.id, "entry_id": row.entry_id, "claimant": row.claimant, "claim": row.claim,
            "status": row.status, "resolution": row.resolution, "opened_by": row.opened_by,
            "opened_at": row.opened_at, "resolved_by": row.resolved_by, "resolved_at": row.resolved_at}


def open_dispute(sessions: sessionmaker[Session], entry_id: str, claimant: str, claim: str, actor: str) -> dict | None:
    with sessions.begin() as s:
        if get_row(s, entry_id) is None:
            return None
        row = WatchlistDispute(id=new_id("dsp"), entry_id=entry_id, claimant=claimant, claim=claim,
                               status="open", opened_by=actor, opened_at=now())
        s.add(row)
        s.flush()
        audit.record(s, actor, "watchlist.dispute.open", "watchlist_dispute", row.id, None, _jsonable(_dispute(row)))
        return _dispute(row)


def list_disputes(sessions: sessionmaker[Session], entry_id: str | None = None, status: str | None = None) -> list[dict]:
    query = select(WatchlistDispute)
    if entry_id:
        query = query.where(WatchlistDispute.entry_id == entry_id)
    if status:
        query = query.where(WatchlistDispute.status == status)
    with sessions() as s:
        return [_dispute(r) for r in s.scalars(query.order_by(WatchlistDispute.opened_at.desc()).limit(500))]


class DisputeClosed(Exception):
    pass


def resolve_dispute(sessions: sessionmaker[Session], dispute_id: str, outcome: str, resolution: str,
                    actor: str) -> dict | None:
    """Upheld: the listing was wrong, the entry is retired (kept for the record, no longer screened).
    Rejected: the listing stands."""
    with sessions.begin() as s:
        row = s.get(WatchlistDispute, dispute_id, with_for_update=True)
        if row is None:
            return None
        if row.status != "open":
            raise DisputeClosed(dispute_id)
        before = _jsonable(_dispute(row))
        row.status, row.resolution, row.resolved_by, row.resolved_at = outcome, resolution, actor, now()
        audit.record(s, actor, "watchlist.dispute.resolve", "watchlist_dispute", row.id, before, _jsonable(_dispute(row)))
        if outcome == "upheld":
            _update(s, row.entry_id, {"status": "retired", "reason": f"dispute {row.id} upheld: {resolution}"[:4000]},
                    actor, "watchlist.retire")
        return _dispute(row)


def get_row(s: Session, entry_id: str) -> WatchlistEntryRow | None:
    row = s.get(WatchlistEntryRow, entry_id)
    return row if row is not None and not row.deleted else None


def _jsonable(data: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
