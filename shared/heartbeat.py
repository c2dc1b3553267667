"""Service readiness, recorded in the database so that GET /healthz on any ingest worker sees it."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import now, run_db
from shared.models import ServiceHeartbeat

log = logging.getLogger(__name__)


def instance_name(base: str | None = None) -> str:
    """A name for this process start: `base` (default the hostname), the pid and a random tag.
    A restarted container keeps its hostname and often its pid, and a process must never take
    its predecessor's claims for its own (nor a live one's slow work for an orphan's)."""
    return f"{base or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def beat(sessions: sessionmaker[Session], service: str, instance: str, ready: bool, detail: str = "") -> None:
    with sessions.begin() as s:
        row = s.get(ServiceHeartbeat, (service, instance))
        if row is None:
            s.add(ServiceHeartbeat(service=service, instance=instance, ready=ready, detail=detail, updated_at=now()))
        else:
            row.ready, row.detail, row.updated_at = ready, detail, now()


FORGET_AFTER_S = 86_400  # a day without a beat: that process is gone for good


def forget_gone(sessions: sessionmaker[Session], service: str, older_than_s: float = FORGET_AFTER_S) -> int:
    """Drop the heartbeats of this service's processes silent for longer than `older_than_s`:
    every process start beats under a name of its own, so the table would grow with each
    restart. Readiness and orphan release look only at recent beats, so nothing reads these."""
    cutoff = now() - timedelta(seconds=older_than_s)
    with sessions.begin() as s:
        return s.execute(delete(ServiceHeartbeat).where(ServiceHeartbeat.service == service,
                                                        ServiceHeartbeat.updated_at < cutoff)).rowcount


async def heartbeat_loop(sessions: sessionmaker[Session], service: str, is_ready: Callable[[], bool],
                         interval_s: float, detail: Callable[[], str] = lambda: "",
                         instance: str | None = None) -> None:
    """`instance`: the name this process claims work under (default: a new instance_name()),
    so that others can tell whether the claimer still runs."""
    instance = instance or instance_name()
    try:
        await run_db(forget_gone, sessions, service)
    except Exception:
        log.exception("forgetting old %s heartbeats failed", service)
    while True:
        try:
            await run_db(beat, sessions, service, instance, is_ready(), detail())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("heartbeat for %s failed", service)
        await asyncio.sleep(interval_s)


def ready_services(session: Session, stale_s: float) -> dict[str, bool]:
    """service -> whether at least one of its instances is ready and recently alive."""
    cutoff = now() - timedelta(seconds=stale_s)
    rows = session.execute(select(ServiceHeartbeat)).scalars().all()
    ready: dict[str, bool] = {}
    for row in rows:
        ready[row.service] = ready.get(row.service, False) or (row.ready and row.updated_at >= cutoff)
    return ready
