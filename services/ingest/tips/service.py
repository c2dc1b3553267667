"""Tips: messages the public sends by SMS or WhatsApp to the Twilio number. Each lands in the
operators' queue as a draft; an operator turns it into a report (screened and alerted like any
other) or dismisses it. The sender's number is the reporter's identity: it stays in the tips
table and, once converted, in the report's confidential reporter column; operators see it
masked; it is never published, logged or audited. The acknowledgement reply to the sender is
sent by the notifier (tip-replies.v1 carries the tip id only), paced like other SMS."""
from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.reports import service as reports
from shared.db import now
from shared.models import TipRow
from shared.outbox import enqueue
from shared.phones import phone_key
from shared.schemas import Channel, Location, ReportContent, ReportIn, Reporter, TipReplyRequested, Victims, new_id
from shared.topics import TIP_REPLIES

ORIGIN = "ingest"
STATUSES = ("draft", "converted", "dismissed")
BODY_MAX = 1600  # Twilio's longest message body


class Tip(BaseModel):
    """A tip as operators see it: the text, never the sender's number (masked at most)."""
    id: str
    received_at: datetime
    channel: str  # sms | whatsapp
    sender: str | None  # masked: +62812****789
    body: str | None
    num_media: int
    status: str
    report_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    reply_status: str | None = None
    purged: bool = False


class TipReport(ReportContent):
    """What an operator adds to a tip to make it a report: ReportIn without channel (the tip's)
    and reporter (the tip's sender). ad_text left out: the tip's own text."""
    location: Location | None = None
    victims: Victims | None = None


class NoSuchTip(Exception):
    pass


class AlreadyDecided(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def mask(sender: str | None) -> str | None:
    """+6281234567890 -> +62812****890: enough to tell two senders apart, not to call one."""
    if not sender:
        return None
    number = phone_key(sender) or sender.split(":", 1)[-1]
    return number[:6] + "****" + number[-3:] if len(number) > 9 else "****"


def _tip(row: TipRow) -> Tip:
    return Tip(id=row.id, received_at=row.received_at, channel=row.channel, sender=mask(row.sender), body=row.body,
               num_media=row.num_media or 0, status=row.status, report_id=row.report_id, decided_by=row.decided_by,
               decided_at=row.decided_at, reason=row.decision_reason, reply_status=row.reply_status,
               purged=row.purged_at is not None)


def receive(sessions: sessionmaker[Session], *, sender: str, to_number: str | None, body: str, provider_id: str,
            num_media: int = 0, reply: bool = True) -> tuple[str, bool]:
    """Store a tip and, if `reply`, its tip-replies.v1 message, in one transaction. The same
    MessageSid again (Twilio retrying the webhook) is the same tip, with no second reply.
    Returns (tip id, created)."""
    tip_id = new_id("tip")
    row = TipRow(id=tip_id, received_at=now(), channel="whatsapp" if sender.lower().startswith("whatsapp:") else "sms",
                 sender=sender[:64], to_number=(to_number or "")[:64] or None, body=body[:BODY_MAX],
                 num_media=max(0, num_media), provider_id=provider_id[:64], status="draft",
                 reply_status="pending" if reply else "disabled")
    known = select(TipRow.id).where(TipRow.provider_id == row.provider_id)
    try:
        with sessions.begin() as s:
            if (existing := s.scalar(known)) is not None:
                return existing, False
            s.add(row)
            if reply:
                enqueue(s, ORIGIN, TIP_REPLIES.name, tip_id, TipReplyRequested(tip_id=tip_id))
    except IntegrityError:  # the same webhook, at the same moment, on another worker
        with sessions() as s:
            existing = s.scalar(known)
        if existing is None:
            raise
        return existing, False
    return tip_id, True


def list_tips(sessions: sessionmaker[Session], *, status: str = "draft", limit: int = 50,
              offset: int = 0) -> tuple[int, list[Tip]]:
    """Tips in this status: drafts oldest first (a queue), decided ones newest first."""
    order = (TipRow.received_at, TipRow.id) if status == "draft" else (TipRow.decided_at.desc(), TipRow.id)
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(TipRow).where(TipRow.status == status)) or 0
        rows = s.scalars(select(TipRow).where(TipRow.status == status).order_by(*order).limit(limit).offset(offset))
        return total, [_tip(r) for r in rows]


def get_tip(sessions: sessionmaker[Session], tip_id: str) -> Tip:
    with sessions() as s:
        row = s.get(TipRow, tip_id)
        if row is None:
            raise NoSuchTip(tip_id)
        return _tip(row)


def _draft(sessions: sessionmaker[Session], tip_id: str) -> TipRow:
    with sessions() as s:
        row = s.get(TipRow, tip_id)
    if row is None:
        raise NoSuchTip(tip_id)
    if row.status != "draft":
        raise AlreadyDecided(row.status)
    return row


def _decide(s: Session, tip_id: str, **values) -> None:
    """Draft -> decided, or AlreadyDecided: a conditional update, so that two operators
    deciding at once leave one decision (the other's transaction rolls back)."""
    done = s.execute(update(TipRow).where(TipRow.id == tip_id, TipRow.status == "draft").values(**values))
    if done.rowcount != 1:
        row = s.get(TipRow, tip_id)
        raise AlreadyDecided(row.status if row else "gone")


def convert(sessions: sessionmaker[Session], *, tip_id: str, content: TipReport, actor: str) -> tuple[Tip, str]:
    """Make the tip a report (reports.service.submit: stored with its reports.v1 message, so
    it is screened and alerts), with the tip's channel and its sender as the confidential
    reporter phone; the tip becomes converted in the same transaction, audited.
    Raises NoSuchTip, AlreadyDecided. Returns (tip, report id)."""
    row = _draft(sessions, tip_id)
    given = content.model_dump(exclude_unset=True)
    if "ad_text" not in content.model_fields_set:
        given["ad_text"] = row.body or ""
    number = phone_key(row.sender or "")
    body = ReportIn.model_validate({**given, "channel": Channel.whatsapp if row.channel == "whatsapp" else Channel.sms,
                                    "reporter": Reporter(phone=number).model_dump() if number else None})
    stamp = now()

    def decide(s: Session, report_id: str) -> None:
        _decide(s, tip_id, status="converted", report_id=report_id, decided_by=actor, decided_at=stamp)
        # What was decided and which fields were given, never the sender or their values
        audit.record(s, actor, "tip.convert", "tip", tip_id, {"status": "draft"},
                     {"status": "converted", "report_id": report_id, "fields": sorted(given)})

    report_id, _ = reports.submit(sessions, body, actor, None, within=decide)
    return get_tip(sessions, tip_id), report_id


def dismiss(sessions: sessionmaker[Session], *, tip_id: str, reason: str, actor: str) -> Tip:
    """Not a report (spam, a test, no facts): dismissed with the reason, audited.
    Raises NoSuchTip, AlreadyDecided."""
    _draft(sessions, tip_id)
    with sessions.begin() as s:
        _decide(s, tip_id, status="dismissed", decided_by=actor, decided_at=now(), decision_reason=reason)
        audit.record(s, actor, "tip.dismiss", "tip", tip_id, {"status": "draft"},
                     {"status": "dismissed", "reason": reason})
    return get_tip(sessions, tip_id)


def purge_expired(sessions: sessionmaker[Session], retention_days: int, actor: str = "system",
                  batch: int = 500) -> int:
    """Erase the sender and the text of tips older than the retention period (a converted
    tip's report keeps its own, purged by its own retention unless a case holds it). Audited:
    one record per tip, naming the fields erased."""
    cutoff = now() - timedelta(days=retention_days)
    purged = 0
    while True:
        with sessions.begin() as s:
            rows = s.scalars(select(TipRow).where(TipRow.received_at < cutoff, TipRow.purged_at.is_(None))
                             .order_by(TipRow.received_at).limit(batch).with_for_update()).all()
            if not rows:
                return purged
            at, changes = now(), []
            for row in rows:
                fields = [f for f in ("sender", "body") if getattr(row, f)]
                row.sender = row.body = None
                row.purged_at = at
                changes.append(audit.Change("retention.purge", "tip", row.id, None,
                                            {"fields": fields, "retention_days": retention_days}))
            audit.record_many(s, actor, changes)
            purged += len(rows)
