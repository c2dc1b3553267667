"""The matcher: a Faust worker that screens reports.v1 into matches.v1.

Durable state is in the database (see service.py); Faust gives us consumer-group scaling over
the partitions of reports.v1. Results leave through the outbox, so a crash between screening
and publishing loses nothing, and a redelivered report is recognised and skipped."""
from __future__ import annotations

import asyncio
import logging

import faust
from aiokafka import TopicPartition

from services.matcher import service
from services.matcher.watchlist_index import WatchlistIndex
from shared.db import make_engine, make_sessionmaker, run_db
from shared.heartbeat import heartbeat_loop, instance_name
from shared.kafka import make_consumer, make_producer
from shared.outbox import OutboxRelay
from shared.schemas import ReportSubmitted, ReviewDecision, WatchlistEntry
from shared.settings import Settings
from shared.streams import faust_app, raw_topic, until_done
from shared.topics import REPORTS, REVIEWS, WATCHLIST

log = logging.getLogger(__name__)


class Matcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.index = WatchlistIndex(settings.review_threshold)
        self.index_ready = asyncio.Event()
        self.assigned = False
        self.instance = instance_name()
        self.relay: OutboxRelay | None = None
        # Entries changed but not yet re-screened against recent reports. The index is updated at
        # once; re-screening (slower) runs beside it, so a backlog never delays the index.
        self.retro_pending: dict[str, int] = {}
        self.retro_wakeup = asyncio.Event()

    def is_ready(self) -> bool:
        return self.index.ready and self.assigned

    async def start(self) -> None:
        producer = make_producer(self.settings)
        await producer.start()
        self.relay = OutboxRelay(self.sessions, producer, service.ORIGIN, poll_s=self.settings.outbox_poll_s,
                                 batch=2000)
        count = await run_db(self.index.load_snapshot, self.sessions)
        log.info("watchlist index loaded: %d entries", count)
        self.index_ready.set()
        await asyncio.gather(
            self.relay.run(),
            self.follow_watchlist(),
            self.retro_screen_loop(),
            heartbeat_loop(self.sessions, "matcher", self.is_ready, self.settings.heartbeat_s,
                           lambda: f"entries={len(self.index.engine)}", instance=self.instance),
        )

    async def handle_reports(self, values: list[bytes]) -> None:
        reports = []
        for value in values:
            try:
                reports.append(ReportSubmitted.model_validate_json(value))
            except ValueError:
                log.error("matcher: skipped a malformed reports.v1 message")
        if reports and await run_db(service.record_first_screenings, self.sessions, self.index, reports):
            self.relay.poke()

    async def handle_reviews(self, values: list[bytes]) -> None:
        published = False
        for value in values:
            try:
                decision = ReviewDecision.model_validate_json(value)
            except ValueError:
                log.error("matcher: skipped a malformed reviews.v1 message")
                continue
            published |= await run_db(service.publish_confirmed, self.sessions, self.index, decision)
        if published:
            self.relay.poke()

    async def follow_watchlist(self) -> None:
        """Every matcher worker reads the whole watchlist topic (no group) and applies changes in order."""
        consumer = make_consumer(self.settings, group_id=None)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(WATCHLIST.name, 0)])
            await consumer.seek_to_beginning()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                changed: dict[str, int] = {}
                for records in batches.values():
                    for record in records:
                        change = self.apply_change(record)
                        if change:
                            changed[change[0]] = change[1]
                if changed:
                    self.retro_pending.update(changed)
                    self.retro_wakeup.set()
        finally:
            await consumer.stop()

    def apply_change(self, record) -> tuple[str, int] | None:
        """Apply one watchlist change to the index; (entry id, version) when an active entry was
        added or changed, so that recent reports are re-screened against it."""
        entry_id = record.key.decode() if record.key else None
        headers = {k: v.decode() for k, v in (record.headers or [])}
        if not entry_id or "version" not in headers:
            log.error("matcher: skipped watchlist change without key or version at offset %s", record.offset)
            return None
        entry = WatchlistEntry.model_validate_json(record.value) if record.value is not None else None
        version = int(headers["version"])
        if not self.index.apply(entry_id, version, entry) or entry is None or entry.status != "active":
            return None
        log.info("watchlist entry %s now at version %d", entry_id, version)
        return entry_id, version

    async def retro_screen_loop(self) -> None:
        """Re-screen recent reports for every batch of changed entries gathered meanwhile."""
        claimed: set[str] = set()  # won by this worker but not re-screened yet (after a failure)
        while True:
            await self.retro_wakeup.wait()
            self.retro_wakeup.clear()
            changed, self.retro_pending = self.retro_pending, {}
            try:
                if changed:
                    claimed |= await run_db(service.claim_retro_screens, self.sessions, changed, self.instance)
                found = await run_db(service.retro_screen, self.sessions, self.index, claimed,
                                     self.settings.retro_screen_days)
            except Exception:
                log.exception("retro-screening failed; will retry")
                self.retro_pending = {k: v for k, v in changed.items() if k not in claimed} | self.retro_pending
                self.retro_wakeup.set()
                await asyncio.sleep(1.0)
                continue
            if found:
                log.info("retro-screening of %d changed entries found %d new report matches", len(claimed), found)
                self.relay.poke()
            claimed = set()


def create_app(settings: Settings) -> faust.App:
    app = faust_app("waspada-matcher", settings)
    matcher = Matcher(settings)
    reports = raw_topic(app, REPORTS.name)

    @app.agent(reports)
    async def screen_reports(stream):
        await matcher.index_ready.wait()
        # Batches of up to 200, or what arrived within 20 ms, cut database round trips under
        # load: a feed's reports then come ~170 a batch (5 ms gave ~60, and the per-batch work
        # capped the matcher); a lone report waits 20 ms at most
        async for values in stream.take(200, within=0.02):
            await until_done(matcher.handle_reports, values, "matcher screening")

    @app.agent(raw_topic(app, REVIEWS.name))
    async def publish_confirmed(stream):
        await matcher.index_ready.wait()
        async for values in stream.take(50, within=0.05):
            await until_done(matcher.handle_reviews, values, "matcher confirmed matches")

    @app.task
    async def run_matcher() -> None:
        await matcher.start()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, *args, **kwargs) -> None:
        matcher.assigned = True

    app.matcher = matcher
    return app
