"""Transactional outbox: write the message with the change, publish it afterwards.

A service adds an OutboxMessage in the same transaction as the state it announces; its
relay publishes pending rows in id order and marks them published. After a crash the
relay re-publishes what was never marked (at-least-once), so consumers are idempotent.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import now, run_db
from shared.models import OutboxMessage

log = logging.getLogger(__name__)


def enqueue(session: Session, origin: str, topic: str, key: str | None, message: BaseModel | None,
            headers: dict[str, str] | None = None) -> None:
    """Add a message to the outbox inside the caller's transaction (None publishes a tombstone)."""
    value = message.model_dump_json().encode() if message is not None else None
    session.add(OutboxMessage(origin=origin, topic=topic, key=key, value=value, headers=headers))


# PostgreSQL: the whole batch as three array parameters of one short statement, which the
# driver parses once and the server prepares once (a multi-row VALUES list is a new statement
# for every batch size, parsed anew each time). Ordinality keeps the ids in the given order.
_ENQUEUE_PG = text(
    "INSERT INTO outbox (origin, topic, key, value, created_at) "
    "SELECT :origin, m.topic, m.key, m.value, :stamp "
    "FROM unnest(CAST(:topics AS VARCHAR[]), CAST(:keys AS VARCHAR[]), CAST(:vals AS BYTEA[])) "
    "WITH ORDINALITY AS m(topic, key, value, n) ORDER BY m.n")


def enqueue_many(session: Session, origin: str, messages: list[tuple[str, str | None, BaseModel | None]]) -> None:
    """Add many messages (topic, key, message) to the outbox inside the caller's transaction, in
    order, with one INSERT statement: for batches, where one ORM object a message costs more
    than the message. Same rows as enqueue() without headers."""
    enqueue_serialized(session, origin, serialize(messages))


def serialize(messages: list[tuple[str, str | None, BaseModel | None]]) -> list[tuple[str, str | None, bytes | None]]:
    """Messages as the outbox stores them: done before a transaction, its writes stay short."""
    return [(topic, key, message.model_dump_json().encode() if message is not None else None)
            for topic, key, message in messages]


def enqueue_serialized(session: Session, origin: str, rows: list[tuple[str, str | None, bytes | None]]) -> None:
    """enqueue_many() of messages serialize() made."""
    if not rows:
        return
    stamp = now()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ENQUEUE_PG, {"origin": origin, "stamp": stamp, "topics": [r[0] for r in rows],
                                      "keys": [r[1] for r in rows], "vals": [r[2] for r in rows]})
        return
    session.execute(insert(OutboxMessage.__table__), [
        {"origin": origin, "topic": topic, "key": key, "created_at": stamp, "value": value}
        for topic, key, value in rows])


_MARK_PG = text("UPDATE outbox SET published_at = :stamp WHERE id = ANY(CAST(:ids AS BIGINT[]))")


class OutboxRelay:
    def __init__(self, sessions: sessionmaker[Session], producer: AIOKafkaProducer, origin: str,
                 poll_s: float = 0.2, batch: int = 500, linger_s: float = 0.0) -> None:
        """linger_s: after a poke, wait this long for more rows before publishing, so that a
        service committing many small transactions (the notifier) publishes them in fewer,
        larger rounds (two transactions a round) at the cost of that much latency."""
        self.sessions = sessions
        self.producer = producer
        self.origin = origin
        self.poll_s = poll_s
        self.batch = batch
        self.linger_s = linger_s
        self._wake = asyncio.Event()
        self.published = 0
        self._lead_conn = None
        self._leading = False

    def poke(self) -> None:
        """Publish soon: called right after a commit that added outbox rows."""
        self._wake.set()

    def _pending(self) -> list[tuple]:
        with self.sessions() as s:
            rows = s.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key, OutboxMessage.value,
                       OutboxMessage.headers)
                .where(OutboxMessage.origin == self.origin, OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(self.batch)
            ).all()
            return [tuple(r) for r in rows]

    def _mark(self, ids: list[int]) -> None:
        with self.sessions.begin() as s:
            if s.get_bind().dialect.name == "postgresql":  # one array parameter: one statement for any count
                s.execute(_MARK_PG, {"ids": ids, "stamp": now()})
            else:
                s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(published_at=now()))

    def _try_lead(self) -> bool:
        """One relay per origin publishes at a time, so several workers never reorder a key.

        PostgreSQL: a session advisory lock held on a dedicated connection (released if the
        worker dies). SQLite is single-host and single-writer: every relay may lead."""
        engine = self.sessions.kw["bind"]
        if engine.dialect.name != "postgresql":
            return True
        if self._lead_conn is None:
            self._lead_conn = engine.connect()
        got = self._lead_conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": f"outbox:{self.origin}"}
        ).scalar()
        self._lead_conn.commit()
        return bool(got)

    async def publish_pending(self) -> int:
        rows = await run_db(self._pending)
        if not rows:
            return 0
        futures = [
            await self.producer.send(
                topic, key=key.encode() if key else None, value=value,
                headers=[(k, v.encode()) for k, v in (headers or {}).items()] or None,
            )
            for _, topic, key, value, headers in rows
        ]
        await asyncio.gather(*futures)  # every record acknowledged (acks=all) before marking
        await run_db(self._mark, [r[0] for r in rows])
        self.published += len(rows)
        return len(rows)

    def _purge(self) -> int:
        with self.sessions.begin() as s:
            return purge_published(s, self.origin)

    async def run(self) -> None:
        next_purge = 0.0
        while True:
            try:
                if self._leading and time.monotonic() > next_purge:
                    next_purge = time.monotonic() + 600
                    await run_db(self._purge)
                if not self._leading:
                    self._leading = await run_db(self._try_lead)
                    if not self._leading:
                        await asyncio.sleep(2.0)  # standby: another worker publishes
                        continue
                if await self.publish_pending() >= self.batch:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database away: keep the rows, try again
                log.exception("outbox relay %s: publish failed, will retry", self.origin)
                await asyncio.sleep(1.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                if self.linger_s:
                    await asyncio.sleep(self.linger_s)
            except TimeoutError:
                pass
            self._wake.clear()


def purge_published(session: Session, origin: str, older_than: timedelta = timedelta(days=7)) -> int:
    """Published rows are history; keep a week for debugging."""
    result = session.execute(
        delete(OutboxMessage).where(OutboxMessage.origin == origin,
                                    OutboxMessage.published_at < now() - older_than)
    )
    return result.rowcount or 0
