"""Tables the ingest owns: API tokens and each report's timeline (matches and alerts)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UtcDateTime, now


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    agency_code: Mapped[str | None] = mapped_column(String(40))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256: the token itself is never stored
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    created_by: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReportMatchRow(Base):
    __tablename__ = "report_matches"
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    entry_name: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    retro: Mapped[bool] = mapped_column(default=False)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    false_positive_by: Mapped[str | None] = mapped_column(String(64))  # a reviewer ruled it wrong
    false_positive_reason: Mapped[str | None] = mapped_column(String(1000))
    kind: Mapped[str | None] = mapped_column(String(8))  # agency | person (rows before bands: unknown)
    band: Mapped[str | None] = mapped_column(String(8))  # alert | review (None: alert, an older row)
    # a possible match's review: confirmed (it then alerts) or rejected (a false-positive suppression)
    review_status: Mapped[str | None] = mapped_column(String(12))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    review_reason: Mapped[str | None] = mapped_column(String(1000))


class ReportAlertRow(Base):
    __tablename__ = "report_alerts"
    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    agency_code: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))
    step: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    ack_code: Mapped[str] = mapped_column(String(6), default="", index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class WatchlistDispute(Base):
    """A listed party's claim that their listing is wrong, and how an admin resolved it."""

    __tablename__ = "watchlist_disputes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(80), index=True)
    claimant: Mapped[str] = mapped_column(String(200))
    claim: Mapped[str] = mapped_column(String(4000))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | upheld | rejected
    resolution: Mapped[str | None] = mapped_column(String(4000))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FeedRow(Base):
    """A bulk feed of job ads (a scraper, a board's export, a group's posts), with its counts."""

    __tablename__ = "feeds"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_post_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    last_post_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class FeedAdRow(Base):
    """A report that came from a feed: where it was seen, and how often it was seen again."""

    __tablename__ = "feed_ads"
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)


class FeedAdKey(Base):
    """What makes two ads the same ad: the url (without tracking parameters) or the text (folded,
    punctuation and spacing gone), as a hash. Every key an ad was seen with points at its report."""

    __tablename__ = "feed_ad_keys"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
