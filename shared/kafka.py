"""Kafka plumbing shared by the services: topic setup (kafka-python) and async clients (aiokafka).

Settings chosen for the embedded Tansu broker hold on Apache Kafka too: no idempotent or
transactional producer (Tansu answers InitProducerId with UnknownError), short session
timeouts (a group join takes about half of it), and no reliance on end_offsets.
"""
from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared.settings import Settings
from shared.topics import ALL_TOPICS

log = logging.getLogger(__name__)


def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
            admin.list_topics()
            admin.close()
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka broker at {bootstrap} did not answer in {timeout_s}s") from exc
            time.sleep(0.2)


def ensure_topics(bootstrap: str, partitions: int) -> list[str]:
    """Create the project's topics if missing; returns the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=t.name,
                num_partitions=partitions if t.partitioned else 1,
                replication_factor=1,
                topic_configs={"cleanup.policy": "compact"} if t.compacted else {},
            )
            for t in ALL_TOPICS
            if t.name not in existing
        ]
        created = []
        for topic in wanted:  # one at a time: a concurrent creator makes only that one fail
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def make_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        request_timeout_ms=10000,
    )


def make_consumer(settings: Settings, *topics: str, group_id: str | None, **kw) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=50,  # Tansu holds a fetch for the whole wait: see shared/streams.py
        **kw,
    )
