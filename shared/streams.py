"""Faust set-up shared by the matcher and the notifier."""
from __future__ import annotations

import faust
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from shared.settings import Settings

# Tansu answers a fetch only when its max wait runs out, even when records arrive earlier, so
# the wait is the latency of every hop. Faust hard-codes 1500 ms; we use the configured
# (short) wait. An idle consumer then polls more often, which costs the broker little.
FETCH_MAX_WAIT_MS = 50


class _PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by consumer.start() when it builds its fetcher
        return consumer


class _PromptConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self):
        return _PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _PromptTransport(faust_aiokafka.Transport):
    Consumer = _PromptConsumer


# URL scheme "waspada-kafka://" selects the transport above (same wire protocol as kafka://).
TRANSPORTS.aliases["waspada-kafka"] = f"{__name__}:_PromptTransport"


def faust_app(app_id: str, settings: Settings) -> faust.App:
    """A Faust app tuned for the embedded broker and for Kafka alike: at-least-once (exactly_once
    needs transactions, which Tansu lacks), short session timeouts (a join takes about half of
    one), no tables (state is in the database), no web server."""
    return faust.App(
        app_id,
        broker=[f"waspada-kafka://{host}" for host in settings.bootstrap.split(",")],
        store="memory://",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_heartbeat_interval_ms / 1000,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        producer_acks=-1,
        topic_allow_declare=False,  # our topics are created by `waspada init`
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
    )


def raw_topic(app: faust.App, name: str):
    """Values stay bytes: messages are our pydantic models, parsed by the handler."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


async def until_done(handler, values, what: str, pause_s: float = 1.0) -> None:
    """Run a batch handler until it succeeds. A batch is never skipped: its offsets commit only
    after it is handled, so a database outage holds the stream back instead of losing events."""
    import asyncio
    import logging

    while True:
        try:
            await handler(values)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logging.getLogger(__name__).exception("%s: handling a batch failed; retrying", what)
            await asyncio.sleep(pause_s)
