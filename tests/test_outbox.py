"""The outbox relay publishes what was committed but never published (a crash between commit
and publish), in order, exactly the stored bytes, and does not publish it again after a restart."""
from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import select

from shared.db import make_engine, make_sessionmaker
from shared.kafka import make_producer
from shared.models import OutboxMessage
from shared.outbox import OutboxRelay, enqueue
from shared.schemas import DeliveryReceipt
from shared.settings import Settings


def test_relay_publishes_pending_rows_once_in_order(stack):
    bootstrap = stack.env["WASPADA_KAFKA_BOOTSTRAP"]
    topic = f"test-outbox-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    settings = Settings(kafka_bootstrap=bootstrap, database_url=stack.database_url)
    engine = make_engine(stack.database_url)
    sessions = make_sessionmaker(engine)
    origin = f"test-{uuid.uuid4().hex[:6]}"
    receipts = [DeliveryReceipt(kind="status", provider_id=f"SM{i}", status="delivered",
                                at="2026-01-01T00:00:00Z") for i in range(25)]
    with sessions.begin() as s:  # committed, as by a service that then crashed before publishing
        for receipt in receipts:
            enqueue(s, origin, topic, receipt.provider_id, receipt, {"version": "1"})
        enqueue(s, origin, topic, "gone", None)  # a tombstone

    async def run_relay_once() -> int:
        producer = make_producer(settings)
        await producer.start()
        try:
            relay = OutboxRelay(sessions, producer, origin)
            return await relay.publish_pending()
        finally:
            await producer.stop()

    async def read_all() -> list:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False, fetch_max_wait_ms=50)
        await consumer.start()
        records = []
        try:
            for _ in range(40):
                batches = await consumer.getmany(timeout_ms=100)
                records += [r for rs in batches.values() for r in rs]
        finally:
            await consumer.stop()
        return records

    assert asyncio.run(run_relay_once()) == 26
    assert asyncio.run(run_relay_once()) == 0, "a restarted relay publishes nothing twice"
    records = asyncio.run(read_all())
    assert [r.key.decode() for r in records] == [r.provider_id for r in receipts] + ["gone"]
    assert [DeliveryReceipt.model_validate_json(r.value) for r in records[:-1]] == receipts
    assert records[0].headers == (("version", b"1"),)
    assert records[-1].value is None
    with sessions() as s:
        pending = s.scalars(select(OutboxMessage).where(OutboxMessage.origin == origin,
                                                        OutboxMessage.published_at.is_(None))).all()
    assert pending == []
    engine.dispose()
