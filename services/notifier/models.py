"""The send ledger: one row per (report, agency, channel, escalation step), written before sending."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UtcDateTime, now


class AlertSend(Base):
    __tablename__ = "alert_sends"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # derived from the key: see ledger.alert_id
    report_id: Mapped[str] = mapped_column(String(40))
    agency_code: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))
    step: Mapped[int] = mapped_column(Integer, default=0)
    # queued -> sending -> sent -> delivered; failed (permanent or past the deadline)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=1)  # 0 urgent, 1 normal, 2 bulk (retro-screening)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    agency: Mapped[dict] = mapped_column(JSON)  # name and categories at planning time (no contacts)
    result: Mapped[dict] = mapped_column(JSON)  # the ScreeningResult this alert announces
    provider_id: Mapped[str | None] = mapped_column(String(255), index=True)
    escalate_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)  # durable timer
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failover_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)  # durable timer
    # Set when an attempt may have reached the provider without being recorded (its worker died
    # while sending, or the send timed out after the request went out): when the earliest such
    # attempt began. An SMS in doubt is looked up at Twilio before it is sent again; an email is
    # resent as the same message (same Message-ID). Cleared once a send is recorded.
    in_doubt_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)

    __table_args__ = (
        UniqueConstraint("report_id", "agency_code", "channel", "step", name="uq_alert_send_key"),
        Index("ix_alert_sends_due", "status", "priority", "next_attempt_at"),
    )
