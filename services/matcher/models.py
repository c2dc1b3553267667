"""Tables the matcher owns: which reports it screened and which (report, entry) pairs it announced."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UtcDateTime, now


class ScreenedReport(Base):
    """A report's first screening is done once, whatever Kafka redelivers."""

    __tablename__ = "matcher_screened_reports"
    report_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    screened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)


class AnnouncedMatch(Base):
    """A (report, entry) pair already published on matches.v1: re-screening announces only new pairs."""

    __tablename__ = "matcher_announced_matches"
    report_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    entry_version: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    # a possible match a reviewer confirmed, published as a match (once, whatever Kafka redelivers)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RetroScreenClaim(Base):
    """One matcher worker re-screens recent reports for an entry version; the others see the claim."""

    __tablename__ = "matcher_retro_claims"
    entry_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
