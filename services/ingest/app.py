"""The ingest service: the HTTP API (reports, watchlist, agencies, tokens), the outbox relay
that publishes what the API stored, and the timeline consumer."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.ingest import timeline
from services.ingest.agencies.views import router as agencies_router
from services.ingest.alerts.views import router as alerts_router
from services.ingest.audit.views import router as audit_router
from services.ingest.feeds.views import router as feeds_router
from services.ingest.auth import RateLimiter
from services.ingest.reports import service as reports_service
from services.ingest.reports.views import router as reports_router
from services.ingest.reviews.views import router as reviews_router
from services.ingest.routes.views import router as routes_router
from services.ingest.tips import service as tips_service
from services.ingest.tips.views import router as tips_router
from services.ingest.tokens.views import router as tokens_router
from services.ingest.web.views import install as install_web
from services.ingest.watchlist.views import router as watchlist_router
from services.ingest.webhooks.views import router as webhooks_router
from shared.db import make_engine, make_sessionmaker, run_db
from shared.heartbeat import ready_services
from shared.kafka import make_consumer, make_producer
from shared.outbox import OutboxRelay
from shared.settings import Settings, get_settings
from shared.topics import ALERTS, MATCHES

log = logging.getLogger(__name__)
ORIGIN = "ingest"
TIMELINE_GROUP = "waspada-ingest-timeline"


class BodyLimit:
    """Refuse request bodies over the limit with 413, whether or not Content-Length is sent.

    A body without a declared length is read (up to the limit) before the app sees it."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes * (160 if _bulk(scope["path"]) else 1)  # imports and feeds: 10 MiB
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                return await _too_large(send, limit)
            return await self.app(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await _too_large(send, limit)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _bulk(path: str) -> bool:
    return path.endswith("/import") or (path.startswith("/v1/feeds/") and path.endswith("/ads"))


async def _too_large(send, limit: int) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
    await response({"type": "http"}, None, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        producer = make_producer(settings)
        consumer = make_consumer(settings, MATCHES.name, ALERTS.name, group_id=TIMELINE_GROUP)
        # A feed post adds a thousand rows at once: larger rounds keep the relay abreast of it
        relay = OutboxRelay(sessions, producer, ORIGIN, poll_s=settings.outbox_poll_s, batch=2000)
        app.state.relay = relay
        tasks: list[asyncio.Task] = []

        async def start_kafka() -> None:
            # The API answers (and stores reports) even while the broker is away; the relay
            # publishes once it is back.
            while True:
                try:
                    await producer.start()
                    break
                except Exception:
                    log.warning("broker not reachable yet; retrying")
                    await asyncio.sleep(1.0)
            tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
            while True:
                try:
                    await consumer.start()
                    break
                except Exception:
                    await asyncio.sleep(1.0)
            tasks.append(asyncio.create_task(timeline.follow(consumer, sessions), name="timeline"))
            app.state.kafka_ready = True

        app.state.kafka_ready = False
        starter = asyncio.create_task(start_kafka())
        tasks.append(asyncio.create_task(retention_loop(sessions, settings), name="retention"))
        try:
            yield
        finally:
            starter.cancel()
            for task in tasks:
                task.cancel()
            for task in [starter, *tasks]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()
            engine.dispose()

    app = FastAPI(title="Waspada API", version="1", lifespan=lifespan,
                  description="Reports of suspected trafficking recruiters, screening and alerts (TPPO task force).")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.engine = engine

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request) -> JSONResponse:
        checks = {"api": True, "database": False, "broker": False, "matcher": False, "notifier": False}
        try:
            def probe():
                with sessions() as s:
                    s.execute(text("SELECT 1"))
                    return ready_services(s, settings.heartbeat_stale_s)
            ready = await run_db(probe)
            checks["database"] = True
            checks["matcher"] = ready.get("matcher", False)
            checks["notifier"] = ready.get("notifier", False)
        except Exception:
            log.exception("healthz: database check failed")
        checks["broker"] = bool(request.app.state.kafka_ready) and await _broker_alive(request.app)
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    app.include_router(reports_router)
    app.include_router(reviews_router)
    app.include_router(feeds_router)
    app.include_router(tips_router)
    app.include_router(watchlist_router)
    app.include_router(agencies_router)
    app.include_router(tokens_router)
    app.include_router(webhooks_router)
    app.include_router(alerts_router)
    app.include_router(routes_router)
    app.include_router(audit_router)
    install_web(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RefuseNul)
    return app


async def retention_loop(sessions, settings: Settings) -> None:
    """Purge personal data past the retention period, now and then every retention_check_s."""
    while True:
        try:
            purged = await run_db(reports_service.purge_expired, sessions, settings.retention_days)
            if purged:
                log.info("retention: purged personal data of %d reports", purged)
            purged = await run_db(tips_service.purge_expired, sessions, settings.retention_days)
            if purged:
                log.info("retention: purged the sender and text of %d tips", purged)
        except Exception:
            log.exception("retention purge failed; will retry")
        await asyncio.sleep(settings.retention_check_s)


async def _broker_alive(app: FastAPI) -> bool:
    producer = app.state.relay.producer
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=2.0)
        return True
    except Exception:
        return False


class RefuseNul:
    """422 for a NUL character in the path or query string, before any handler or database sees it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]):
            response = JSONResponse({"detail": [{"loc": ["query"], "msg": "NUL characters are not accepted",
                                                 "type": "value_error"}]}, status_code=422)
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)
