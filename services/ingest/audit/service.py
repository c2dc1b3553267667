"""Append to and verify the audit log.

Each record's hash covers its own fields and the hash of the record before it, so editing,
deleting or inserting any record breaks the chain from there on (`waspada audit verify`)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit.models import AuditHead, AuditRecord
from shared.db import now

GENESIS = "0" * 64
HEAD_ID = 1


@dataclass(frozen=True)
class Change:
    action: str
    target_type: str
    target_id: str
    before: dict | None = None
    after: dict | None = None


def _digest(seq: int, at: datetime, actor: str, change: Change, prev_hash: str) -> str:
    canonical = json.dumps({
        "seq": seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "actor": actor, "action": change.action,
        "target_type": change.target_type, "target_id": change.target_id,
        "before": change.before, "after": change.after, "prev": prev_hash,
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _take_head(s: Session, count: int) -> tuple[int, str]:
    """Reserve `count` sequence numbers; returns (last seq before them, its hash). The UPDATE comes
    first so that it takes the write lock before the head is read."""
    result = s.execute(update(AuditHead).where(AuditHead.id == HEAD_ID)
                       .values(seq=AuditHead.seq + count).returning(AuditHead.seq, AuditHead.hash)).first()
    if result is None:  # first record ever
        s.add(AuditHead(id=HEAD_ID, seq=count, hash=GENESIS))
        s.flush()
        return 0, GENESIS
    return result.seq - count, result.hash


def record_many(s: Session, actor: str, changes: Iterable[Change]) -> None:
    """Append records inside the caller's transaction: they commit or vanish with the change."""
    changes = list(changes)
    if not changes:
        return
    seq, prev = _take_head(s, len(changes))
    at = now()
    rows = []
    for change in changes:
        seq += 1
        digest = _digest(seq, at, actor, change, prev)
        rows.append({"seq": seq, "at": at, "actor": actor, "action": change.action,
                     "target_type": change.target_type, "target_id": change.target_id,
                     "before": change.before, "after": change.after, "prev_hash": prev, "hash": digest})
        prev = digest
    s.execute(AuditRecord.__table__.insert(), rows)
    s.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=prev))


def record(s: Session, actor: str, action: str, target_type: str, target_id: str,
           before: dict | None = None, after: dict | None = None) -> None:
    record_many(s, actor, [Change(action, target_type, target_id, before, after)])


def to_dict(row: AuditRecord) -> dict:
    return {"seq": row.seq, "at": row.at, "actor": row.actor, "action": row.action,
            "target_type": row.target_type, "target_id": row.target_id,
            "before": row.before, "after": row.after, "hash": row.hash}


def search(sessions: sessionmaker[Session], *, actor: str | None = None, action: str | None = None,
           target_type: str | None = None, target_id: str | None = None, since: datetime | None = None,
           until: datetime | None = None, limit: int = 100, before_seq: int | None = None) -> list[dict]:
    query = select(AuditRecord)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if action:  # "watchlist" matches every watchlist.* action
        query = query.where((AuditRecord.action == action) | AuditRecord.action.like(f"{action}.%"))
    if target_type:
        query = query.where(AuditRecord.target_type == target_type)
    if target_id:
        query = query.where(AuditRecord.target_id == target_id)
    if since:
        query = query.where(AuditRecord.at >= since)
    if until:
        query = query.where(AuditRecord.at < until)
    if before_seq:
        query = query.where(AuditRecord.seq < before_seq)
    with sessions() as s:
        return [to_dict(r) for r in s.scalars(query.order_by(AuditRecord.seq.desc()).limit(limit))]


@dataclass
class Verdict:
    records: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(sessions: sessionmaker[Session], batch: int = 5000) -> Verdict:
    """Recompute the chain from the first record; report every break (edited, missing or inserted
    records, or a head that does not match the last record)."""
    problems: list[str] = []
    prev, expected_seq, count = GENESIS, 1, 0
    with sessions() as s:
        last = 0
        while True:
            rows = s.scalars(select(AuditRecord).where(AuditRecord.seq > last)
                             .order_by(AuditRecord.seq).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                count += 1
                if row.seq != expected_seq:
                    problems.append(f"record {expected_seq}: missing (next is {row.seq})")
                if row.prev_hash != prev:
                    problems.append(f"record {row.seq}: does not follow record {row.seq - 1} (chain broken)")
                change = Change(row.action, row.target_type, row.target_id, row.before, row.after)
                if _digest(row.seq, row.at, row.actor, change, row.prev_hash) != row.hash:
                    problems.append(f"record {row.seq}: contents do not match its hash (edited)")
                prev, expected_seq, last = row.hash, row.seq + 1, row.seq
            s.expunge_all()
        head = s.get(AuditHead, HEAD_ID)
        total = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
    if head is not None and (head.seq != last or head.hash != prev):
        problems.append(f"head says record {head.seq}, the log ends at record {last} (records removed at the end?)")
    if head is None and total:
        problems.append("records exist but the chain head is missing")
    return Verdict(count, problems)
