"""The notifier: a Faust worker that turns matches.v1 into alerts (and tip-replies.v1 into the
acknowledgement reply to a tip's sender, services/notifier/tips.py).

The agent only plans (routing, grouping) and writes the ledger; the dispatcher sends from the
ledger. So a crash, a redelivery or a second worker never sends the same ledger key twice,
and nothing planned is lost."""
from __future__ import annotations

import asyncio
import logging

import faust
from sqlalchemy import select

from services.notifier import ledger, routing
from services.notifier.dispatcher import Dispatcher, backoff_s
from services.notifier.tips import TipReplier
from shared.db import make_engine, make_sessionmaker, run_db
from shared.heartbeat import heartbeat_loop, instance_name
from shared.kafka import make_producer
from shared.models import AgencyRow, BrokenContact, RoutingRule
from shared.outbox import OutboxRelay
from shared.schemas import Agency, DeliveryReceipt, Route, ScreeningResult, TipReplyRequested
from shared.settings import Settings
from shared.streams import faust_app, raw_topic, until_done
from shared.topics import MATCHES, RECEIPTS, TIP_REPLIES

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions = make_sessionmaker(self.engine)
        # The name this process claims ledger rows under and beats as (one per process start)
        self.instance = instance_name(settings.notifier_instance)
        self.started = asyncio.Event()
        self.assigned = False
        self.relay: OutboxRelay | None = None
        self.dispatcher: Dispatcher | None = None
        self.tip_replier: TipReplier | None = None

    def is_ready(self) -> bool:
        return self.started.is_set() and self.assigned

    async def start(self) -> None:
        producer = make_producer(self.settings)
        await producer.start()
        # A poke comes with every send: linger a little so that each round publishes many events.
        self.relay = OutboxRelay(self.sessions, producer, ledger.ORIGIN, poll_s=self.settings.outbox_poll_s,
                                 linger_s=0.05)
        self.dispatcher = Dispatcher(self.settings, self.sessions, self.relay, self.instance)
        # Tip replies share the SMS channel and its limiter with alerts: one pace for the number
        self.tip_replier = TipReplier(self.settings, self.sessions, self.dispatcher.sms,
                                      self.dispatcher.limiters["sms"], self.instance, backoff_s)
        self.started.set()
        await asyncio.gather(
            self.relay.run(),
            self.dispatcher.run(),
            self.tip_replier.run(),
            heartbeat_loop(self.sessions, "notifier", self.is_ready, self.settings.heartbeat_s,
                           instance=self.instance),
        )

    def _directory(self) -> tuple[list[Agency], list[Route]]:
        # Read per batch (not cached): an agency or rule added a moment ago must not miss an alert.
        with self.sessions() as s:
            broken = {(b.agency_code, b.address) for b in s.scalars(select(BrokenContact))}
            agencies = [Agency(code=r.code, name=r.name, receives=r.receives,
                               emails=[e for e in r.emails if (r.code, e) not in broken],
                               phones=[p for p in r.phones if (r.code, p) not in broken])
                        for r in s.scalars(select(AgencyRow))]
            rules = [r.as_route() for r in s.scalars(select(RoutingRule))]
        return agencies, rules

    def _plan(self, results: list[ScreeningResult]) -> list[str]:
        """Route a batch and write its ledger rows: one trip to a database thread for both, as
        batches come one after another and each trip waits its turn for the interpreter."""
        agencies, rules = self._directory()
        planned = [(result, alert) for result in results for alert in routing.plan(result, agencies, rules)]
        return ledger.record_planned(self.sessions, planned, self.settings.delivery_deadline_s, 0,
                                     self.settings.escalate_after_s)

    async def handle_results(self, values: list[bytes]) -> None:
        results = []
        for value in values:
            try:
                results.append(ScreeningResult.model_validate_json(value))
            except ValueError:
                log.error("notifier: skipped a malformed matches.v1 message")
        created = await run_db(self._plan, results)
        if created:
            log.info("%d alerts queued for %d reports", len(created), len({r.report_id for r in results}))
            self.relay.poke()
            self.dispatcher.poke()

    async def handle_receipt(self, value: bytes) -> None:
        try:
            receipt = DeliveryReceipt.model_validate_json(value)
        except ValueError:
            log.error("notifier: skipped a malformed receipts.v1 message")
            return
        if receipt.kind == "status" and receipt.provider_id:
            if await run_db(ledger.apply_provider_status, self.sessions, receipt.provider_id, receipt.status):
                self.relay.poke()
        elif receipt.kind == "ack" and receipt.report_id and receipt.agency_code:
            if await run_db(ledger.apply_ack, self.sessions, receipt.report_id, receipt.agency_code,
                            receipt.by or "unknown"):
                self.relay.poke()

    async def handle_tip_reply(self, value: bytes) -> None:
        try:
            request = TipReplyRequested.model_validate_json(value)
        except ValueError:
            log.error("notifier: skipped a malformed tip-replies.v1 message")
            return
        await self.tip_replier.handle(request.tip_id)


def create_app(settings: Settings) -> faust.App:
    app = faust_app("waspada-notifier", settings)
    notifier = Notifier(settings)

    @app.agent(raw_topic(app, MATCHES.name))
    async def plan_alerts(stream):
        await notifier.started.wait()
        async for values in stream.take(200, within=0.02):
            await until_done(notifier.handle_results, values, "notifier planning")

    @app.agent(raw_topic(app, RECEIPTS.name))
    async def apply_receipts(stream):
        await notifier.started.wait()
        async for value in stream:
            await until_done(notifier.handle_receipt, value, "notifier receipts")

    @app.agent(raw_topic(app, TIP_REPLIES.name))
    async def reply_to_tips(stream):
        await notifier.started.wait()
        async for value in stream:
            await until_done(notifier.handle_tip_reply, value, "notifier tip replies")

    @app.task
    async def run_notifier() -> None:
        await notifier.start()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, *args, **kwargs) -> None:
        notifier.assigned = True

    app.notifier = notifier
    return app
