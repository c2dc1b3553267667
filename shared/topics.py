"""Kafka topic names. The version in the name matches the schema_version of its messages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    partitioned: bool = True  # False: one partition, for totally ordered streams


REPORTS = TopicSpec("reports.v1")
MATCHES = TopicSpec("matches.v1")
ALERTS = TopicSpec("alerts.v1")
ALERTS_DEAD = TopicSpec("alerts.dead.v1")
# Every matcher worker reads all of it; one partition keeps changes in order.
WATCHLIST = TopicSpec("watchlist.v1", compacted=True, partitioned=False)
# Delivery receipts and acknowledgements arriving at the HTTP edge, for the notifier.
RECEIPTS = TopicSpec("receipts.v1")
# Possible matches a reviewer confirmed, for the matcher to publish as matches.
REVIEWS = TopicSpec("reviews.v1")

# Tips received by SMS or WhatsApp whose sender the notifier is to thank (the tip id only).
TIP_REPLIES = TopicSpec("tip-replies.v1")

ALL_TOPICS = (REPORTS, MATCHES, ALERTS, ALERTS_DEAD, WATCHLIST, RECEIPTS, REVIEWS, TIP_REPLIES)
