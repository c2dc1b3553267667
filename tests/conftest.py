from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from shared.db import create_schema, make_engine, make_sessionmaker
from tests.harness import Stack, start_sinks

POSTGRES_URL = os.environ.get("WASPADA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sinks(tmp_path_factory):
    sinks = start_sinks(tmp_path_factory.mktemp("sinks"))
    yield sinks
    sinks.stop()


def _postgres_database():
    """A fresh database on the test server, or a skip reason."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test against
        return None, f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
    name = f"waspada_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return (admin, name, f"{base}/{name}"), None


@contextlib.contextmanager
def running_stack(kind: str, sinks, home):
    """A whole system (broker, three services) on SQLite or on a fresh PostgreSQL database."""
    with database_url(kind, home) as url:
        stack = Stack(home, url, sinks).start()
        try:
            yield stack
        finally:
            stack.stop()


@contextlib.contextmanager
def database_url(kind: str, folder):
    """A SQLite file in folder, or a fresh PostgreSQL database dropped afterwards (skips
    the test when PostgreSQL is not reachable)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'waspada.db'}"
        return
    pg, reason = _postgres_database()
    if pg is None:
        pytest.skip(reason)
    admin, name, url = pg
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def stack(request, sinks, tmp_path_factory):
    with running_stack(request.param, sinks, tmp_path_factory.mktemp(f"stack-{request.param}")) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    """A fresh schema on a SQLite file, and on a fresh PostgreSQL database (dropped after)."""
    with database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        create_schema(engine)
        yield make_sessionmaker(engine)
        engine.dispose()
