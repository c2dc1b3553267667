"""Tables shared by more than one service. Each service keeps its own tables in its models.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UtcDateTime, now
from shared.schemas import Route

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER


class OutboxMessage(Base):
    """A Kafka message written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(32))  # which service's relay publishes it
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: tombstone
    headers: Mapped[dict | None] = mapped_column(JSON)  # str -> str
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_outbox_pending", "origin", "published_at", "id"),)


class ServiceHeartbeat(Base):
    """Readiness of each running service instance, read by GET /healthz."""

    __tablename__ = "service_heartbeats"
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(100), primary_key=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)


class ReportRow(Base):
    """A report as received. `content` is the screenable part (the reports.v1 message);
    the confidential part (reporter, desa) sits in its own columns and never leaves the ingest."""

    __tablename__ = "reports"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict] = mapped_column(JSON)
    desa: Mapped[str | None] = mapped_column(String(200))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_phone: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)  # "<token id>:<key>"
    request_hash: Mapped[str | None] = mapped_column(String(64))
    screened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    risk_level: Mapped[str | None] = mapped_column(String(16))
    categories: Mapped[list] = mapped_column(JSON, default=list)
    indicators: Mapped[list] = mapped_column(JSON, default=list)
    # Retention: personal data is purged after WASPADA_RETENTION_DAYS unless a case holds it.
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    hold_by: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MatchSuppression(Base):
    """A reviewer's false-positive decision: this report value never again matches this entry.
    Written by admins (ingest API), read by the matcher before it announces matches."""

    __tablename__ = "match_suppressions"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(80), index=True)
    value_key: Mapped[str] = mapped_column(String(300))  # normalised report value (see screening.suppression_key)
    report_value: Mapped[str] = mapped_column(String(300))
    report_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)

    __table_args__ = (Index("ux_match_suppression_pair", "entry_id", "value_key", unique=True),)


class WatchlistEntryRow(Base):
    """Source of truth for the watchlist; every change is also published to watchlist.v1."""

    __tablename__ = "watchlist_entries"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict] = mapped_column(JSON)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)


class AgencyRow(Base):
    __tablename__ = "agencies"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    emails: Mapped[list] = mapped_column(JSON, default=list)
    phones: Mapped[list] = mapped_column(JSON, default=list)
    receives: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)


class RoutingRule(Base):
    """Which agency hears of which alerts, by which channels. Written by admins (ingest API),
    read by the notifier. An agency with rules is routed by its rules only; an agency without
    any by the categories it `receives`."""

    __tablename__ = "routing_rules"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(40), index=True)
    categories: Mapped[list] = mapped_column(JSON, default=list)  # any of these
    min_risk: Mapped[str] = mapped_column(String(16), default="low")
    kecamatan: Mapped[str | None] = mapped_column(String(200))  # only reports from there, if set
    channels: Mapped[list] = mapped_column(JSON, default=list)
    feed_min_risk: Mapped[str | None] = mapped_column(String(16))  # see schemas.RouteIn
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)

    def as_route(self) -> Route:
        return Route(id=self.id, agency_code=self.agency_code, categories=self.categories, min_risk=self.min_risk,
                     kecamatan=self.kecamatan, channels=self.channels, feed_min_risk=self.feed_min_risk)


class BrokenContact(Base):
    """An address or number a provider refused permanently (SMTP 5xx, Twilio 21211/21610/30006).
    The notifier stops using it; admins see it and fix the agency directory."""

    __tablename__ = "broken_contacts"
    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)


class TipRow(Base):
    """A tip sent by SMS or WhatsApp to the Twilio number (inbound webhook), waiting in the
    operators' queue until one turns it into a report or dismisses it. `sender` is the
    reporter's identity (confidential like ReportRow.reporter_phone: never on Kafka, in an SMS
    to anyone else or in a log); the notifier reads it to send the acknowledgement reply."""

    __tablename__ = "tips"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, index=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | whatsapp
    sender: Mapped[str | None] = mapped_column(String(64))  # as Twilio wrote From ("whatsapp:+62..."); None once purged
    to_number: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)  # None once purged
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)  # MessageSid: a retried webhook is one tip
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)  # draft | converted | dismissed
    report_id: Mapped[str | None] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    # The acknowledgement reply: pending -> sending -> sent | failed; disabled (WASPADA_TIP_REPLY empty)
    reply_status: Mapped[str | None] = mapped_column(String(16), index=True)
    reply_attempts: Mapped[int] = mapped_column(Integer, default=0)
    reply_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reply_claimed_by: Mapped[str | None] = mapped_column(String(100))
    reply_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the earliest attempt that may have reached Twilio unrecorded began: looked up first
    reply_in_doubt_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reply_provider_id: Mapped[str | None] = mapped_column(String(64))
    reply_error: Mapped[str | None] = mapped_column(String(200))  # an error class, never an address
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
