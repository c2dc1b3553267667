"""PostgreSQL connection pool: a connection that died while idle in the pool (a server restart,
an idle timeout) is replaced unseen, and one in steady use is not pinged before every
transaction (a round trip each)."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from shared import db
from tests.conftest import database_url


@pytest.fixture
def postgres_url(tmp_path):
    with database_url("postgres", tmp_path) as url:
        yield url


def _backend(engine) -> int:
    with engine.begin() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_connection_lost_while_idle_is_replaced_unseen(postgres_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.05, raising=False)
    engine = db.make_engine(postgres_url)
    try:
        first = _backend(engine)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        time.sleep(0.2)
        assert _backend(engine) != first  # no error: the pool pinged, found it dead, connected anew
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(postgres_url, monkeypatch):
    engine = db.make_engine(postgres_url)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    try:
        backends = {_backend(engine) for _ in range(20)}
        assert len(backends) == 1 and pings == []
    finally:
        engine.dispose()
