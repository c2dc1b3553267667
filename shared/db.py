"""Database plumbing: SQLite file by default, PostgreSQL by URL (SQLAlchemy 2)."""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")
log = logging.getLogger(__name__)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which forgets the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the three services read while one writes; busy_timeout waits for the writer.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


# A pooled connection is pinged before use when it sat idle this long: a server restart or an
# idle timeout drops idle connections, and the ping replaces them unseen. Pinging every
# checkout (pool_pre_ping) cost a round trip a transaction: ~0.2 ms of CPU an email in the
# notifier and the server together at 300 emails/s. A connection used within this time that
# died fails its transaction, as one dying mid-transaction always could, and SQLAlchemy then
# replaces every connection of the pool.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_conn, record):
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, proxy):
        idle_from = record.info.get("idle_from")  # none: connected just now
        if idle_from is None or time.monotonic() - idle_from < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("pooled connection lost while idle") from exc  # the pool connects anew


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create every table of every service (idempotent)."""
    import shared.models  # noqa: F401  (registers tables on Base.metadata)
    import services.matcher.models  # noqa: F401
    import services.notifier.models  # noqa: F401
    import services.ingest.models  # noqa: F401
    import services.ingest.audit.models  # noqa: F401
    import services.ingest.web.models  # noqa: F401

    Base.metadata.create_all(engine)
    _add_new_columns(engine)


def _add_new_columns(engine: Engine) -> None:
    """Tables made by an older version lack the columns added since: create_all makes missing
    tables only. A new nullable column is added here (ALTER TABLE ... ADD COLUMN, on SQLite and
    PostgreSQL alike); any other change still needs a hand-written migration."""
    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.primary_key or column.server_default is not None:
                log.warning("table %s lacks column %s, which needs a hand-written migration", table.name, column.name)
                continue
            kind = column.type.compile(dialect=engine.dialect)
            guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
            with engine.begin() as connection:
                connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN {guard}"{column.name}" {kind}'))
            log.info("table %s: column %s added", table.name, column.name)


_DB_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="db")


async def run_db(fn: Callable[..., T], *args) -> T:
    """Run blocking database work off the event loop, on threads of its own (the loop's default
    pool has cores + 4 threads, too few when sends wait on the database)."""
    return await asyncio.get_running_loop().run_in_executor(_DB_THREADS, fn, *args)


def now() -> datetime:
    return datetime.now(UTC)
