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
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import now, run_db
from shared.models import OutboxMessage

log = logging.getLogger(__name__)


def enqueue(session: Session, origin: str, topic: str, key: str | None, message: BaseModel | None,
            headers: dict[str, str] | None = None) -> None:
    """Add a message to the outbox inside the caller's transaction (None publishes a tombstone)."""
    value = message.model_dump_json().encode() if message is not None else None
    session.add(OutboxMessage(origin=origin, topic=topic, key=key, value=value, headers=headers))


class OutboxRelay:
    def __init__(self, sessions: sessionmaker[Session], producer: AIOKafkaProducer, origin: str,
                 poll_s: float = 0.2, batch: int = 500) -> None:
        self.sessions = sessions
        self.producer = producer
        self.origin = origin
        self.poll_s = poll_s
        self.batch = batch
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
