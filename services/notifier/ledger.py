"""The send ledger's operations. Every state change and its alerts.v1 event commit together."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.models import AlertSend
from services.notifier.routing import PlannedAlert
from shared.db import now
from shared.models import ServiceHeartbeat
from shared.outbox import enqueue
from shared.models import AgencyRow, BrokenContact
from shared.schemas import AlertChannel, AlertEvent, AlertStatus, RiskLevel, ScreeningResult
from shared.topics import ALERTS, ALERTS_DEAD

ORIGIN = "notifier"


def alert_id(report_id: str, agency_code: str, channel: str, step: int) -> str:
    digest = hashlib.sha256(f"{report_id}|{agency_code}|{channel}|{step}".encode()).hexdigest()
    return "al_" + digest[:24]


def _event(row: AlertSend, status: AlertStatus, detail: str = "") -> AlertEvent:
    return AlertEvent(alert_id=row.id, report_id=row.report_id, agency_code=row.agency_code,
                      channel=AlertChannel(row.channel), step=row.step, status=status, at=now(),
                      attempt=row.attempts, detail=detail)


def _announce(s: Session, row: AlertSend, status: AlertStatus, detail: str = "") -> None:
    enqueue(s, ORIGIN, ALERTS.name, row.report_id, _event(row, status, detail))


URGENT = {RiskLevel.high, RiskLevel.urgent}


def _arm_raised_urgency(s: Session, raised: dict[str, ScreeningResult], escalate_after_s: float) -> None:
    """A later result for the same report made an SMS alert urgent (a match found by
    re-screening a moment after the report came in): its acknowledgement timer starts now,
    as it would have had the first result been urgent. Once armed, never re-armed."""
    if not raised:
        return
    for row in s.scalars(select(AlertSend).where(AlertSend.id.in_(list(raised)))):
        if row.acknowledged_at is None and row.escalate_at is None \
                and RiskLevel(row.result.get("risk_level", "low")) not in URGENT:
            row.result = raised[row.id].model_dump(mode="json")
            row.escalate_at = now() + timedelta(seconds=escalate_after_s)


def record_planned(sessions: sessionmaker[Session], planned: list[tuple[ScreeningResult, PlannedAlert]],
                   deadline_s: float, step: int = 0, escalate_after_s: float | None = None) -> list[str]:
    """Write ledger rows for alerts not yet in it (one transaction for the batch); returns the
    new alert ids. A key already present (a redelivery, an earlier screening) is not sent again;
    only its escalation timer starts if the new result made it urgent."""
    rows = {}
    for result, alert in planned:
        aid = alert_id(result.report_id, alert.agency.code, alert.channel.value, step)
        rows.setdefault(aid, (result, alert))
    if not rows:
        return []
    try:
        with sessions.begin() as s:
            existing = set(s.scalars(select(AlertSend.id).where(AlertSend.id.in_(list(rows)))))
            created = []
            for aid, (result, alert) in rows.items():
                if aid in existing:
                    continue
                row = AlertSend(
                    id=aid, report_id=result.report_id, agency_code=alert.agency.code,
                    channel=alert.channel.value, step=step, status="queued", priority=alert.priority, attempts=0,
                    next_attempt_at=now(), deadline_at=now() + timedelta(seconds=deadline_s),
                    recipients=list(alert.recipients), result=result.model_dump(mode="json"),
                    agency=alert.agency.model_dump(mode="json", include={"code", "name", "receives"}),
                    # Urgent SMS alerts start the acknowledgement timer (durable: a column, not a task).
                    escalate_at=now() + timedelta(seconds=escalate_after_s)
                    if escalate_after_s and alert.channel == AlertChannel.sms and result.risk_level in URGENT else None,
                )
                s.add(row)
                _announce(s, row, AlertStatus.queued)
                created.append(aid)
            if escalate_after_s:
                _arm_raised_urgency(s, {aid: result for aid, (result, alert) in rows.items()
                                        if aid in existing and alert.channel == AlertChannel.sms
                                        and result.risk_level in URGENT}, escalate_after_s)
        return created
    except IntegrityError:  # another worker wrote some of the same keys first
        if len(rows) == 1:
            return []  # its row stands
        return [aid for pair in rows.values()
                for aid in record_planned(sessions, [pair], deadline_s, step, escalate_after_s)]


def claim_due(sessions: sessionmaker[Session], instance: str, limit: int) -> list[AlertSend]:
    """Claim due rows for this worker: urgent first, then by due time. The claim is one
    conditional UPDATE (status still queued), so two workers never both take a row."""
    with sessions() as s:
        candidates = s.scalars(
            select(AlertSend.id).where(AlertSend.status == "queued", AlertSend.next_attempt_at <= now())
            .order_by(AlertSend.priority, AlertSend.next_attempt_at).limit(limit)
        ).all()
    if not candidates:
        return []
    stamp = now()
    with sessions.begin() as s:
        s.execute(
            update(AlertSend).where(AlertSend.id.in_(candidates), AlertSend.status == "queued")
            .values(status="sending", claimed_by=instance, claimed_at=stamp, attempts=AlertSend.attempts + 1)
        )
    with sessions() as s:
        return list(s.scalars(select(AlertSend).where(
            AlertSend.id.in_(candidates), AlertSend.claimed_by == instance, AlertSend.claimed_at == stamp,
            AlertSend.status == "sending").order_by(AlertSend.priority, AlertSend.next_attempt_at)))


def mark_sent_many(sessions: sessionmaker[Session], sent: list[tuple[str, str | None]],
                   failover_after_s: float | None = None) -> None:
    """Record handed-over sends, many in one transaction."""
    provider_ids = dict(sent)
    with sessions.begin() as s:
        for row in s.scalars(select(AlertSend).where(AlertSend.id.in_(list(provider_ids))).order_by(AlertSend.id)):
            row.status, row.provider_id, row.updated_at, row.last_error = "sent", provider_ids[row.id], now(), ""
            if row.channel == "sms" and failover_after_s:
                row.failover_at = now() + timedelta(seconds=failover_after_s)  # cleared on "delivered"
            _announce(s, row, AlertStatus.sent)


def mark_retry(sessions: sessionmaker[Session], aid: str, reason: str, delay_s: float) -> bool:
    """Queue another attempt; False (and failed) when the delivery deadline would pass."""
    with sessions.begin() as s:
        row = s.get(AlertSend, aid)
        when = now() + timedelta(seconds=delay_s)
        if when > row.deadline_at:
            _fail(s, row, f"deadline passed after {row.attempts} attempts: {reason}")
            return False
        row.status, row.next_attempt_at, row.last_error, row.updated_at = "queued", when, reason, now()
        row.claimed_by = None
        return True


def mark_failed(sessions: sessionmaker[Session], aid: str, reason: str, permanent: bool = False) -> None:
    with sessions.begin() as s:
        _fail(s, s.get(AlertSend, aid), reason, permanent)


def _fail(s: Session, row: AlertSend, reason: str, permanent: bool = False) -> None:
    row.status, row.last_error, row.updated_at, row.failover_at = "failed", reason, now(), None
    _announce(s, row, AlertStatus.failed, reason)
    enqueue(s, ORIGIN, ALERTS_DEAD.name, row.report_id, _event(row, AlertStatus.failed, reason))
    if permanent:
        for address in row.recipients:
            if s.get(BrokenContact, (row.agency_code, address)) is None:
                s.add(BrokenContact(agency_code=row.agency_code, address=address, reason=reason[:200]))
    if row.channel == "sms":
        _failover(s, row)


def _failover(s: Session, row: AlertSend) -> None:
    """The SMS did not arrive: send the same alert by the agency's email, unless it already was."""
    agency = s.get(AgencyRow, row.agency_code)
    broken = set(s.scalars(select(BrokenContact.address).where(BrokenContact.agency_code == row.agency_code)))
    emails = [e for e in (agency.emails if agency else []) if e not in broken]
    aid = alert_id(row.report_id, row.agency_code, "email", row.step)
    if not emails or s.get(AlertSend, aid) is not None:
        return
    email = AlertSend(id=aid, report_id=row.report_id, agency_code=row.agency_code, channel="email", step=row.step,
                      status="queued", priority=0, attempts=0, next_attempt_at=now(), deadline_at=row.deadline_at,
                      recipients=emails, result=row.result, agency=row.agency)
    s.add(email)
    _announce(s, email, AlertStatus.queued, f"failover from SMS: {row.last_error}"[:200])


def failover_due(sessions: sessionmaker[Session]) -> int:
    """SMS alerts with no delivery report in time: keep them, and send by email as well."""
    try:
        with sessions.begin() as s:
            due = s.scalars(select(AlertSend).where(AlertSend.failover_at <= now()).limit(100)).all()
            for row in due:
                row.failover_at = None
                row.last_error = "no delivery report in time"
                _failover(s, row)
            return len(due)
    except IntegrityError:  # another worker failed over the same alert first
        return 0


def apply_provider_status(sessions: sessionmaker[Session], provider_id: str, status: str) -> str | None:
    """A delivery receipt from the SMS provider; returns the alert id it concerned."""
    with sessions.begin() as s:
        row = s.scalars(select(AlertSend).where(AlertSend.provider_id == provider_id)).first()
        if row is None:
            return None
        if status == "delivered" and row.status in ("sent", "sending"):
            row.status, row.updated_at, row.failover_at = "delivered", now(), None
            _announce(s, row, AlertStatus.delivered, "delivered")
        elif status in ("undelivered", "failed") and row.status in ("sent", "sending", "delivered"):
            _fail(s, row, f"provider status {status}")
        return row.id


def release_orphans(sessions: sessionmaker[Session], stale_s: float) -> int:
    """Rows left 'sending' by a worker that stopped beating go back to the queue."""
    cutoff = now() - timedelta(seconds=stale_s)
    with sessions.begin() as s:
        alive = set(s.scalars(select(ServiceHeartbeat.instance).where(
            ServiceHeartbeat.service == "notifier", ServiceHeartbeat.updated_at >= cutoff)))
        stuck = s.scalars(select(AlertSend).where(AlertSend.status == "sending",
                                                  AlertSend.claimed_at < cutoff)).all()
        released = 0
        for row in stuck:
            if row.claimed_by not in alive:
                row.status, row.claimed_by, row.next_attempt_at = "queued", None, now()
                row.last_error = "released: the worker sending it stopped"
                released += 1
        return released


def apply_ack(sessions: sessionmaker[Session], report_id: str, agency_code: str, by: str) -> int:
    """An agency acknowledged a report: all its alerts for that report stop escalating."""
    with sessions.begin() as s:
        rows = s.scalars(select(AlertSend).where(AlertSend.report_id == report_id,
                                                 AlertSend.agency_code == agency_code,
                                                 AlertSend.acknowledged_at.is_(None))).all()
        for row in rows:
            row.acknowledged_at, row.escalate_at, row.updated_at = now(), None, now()
            _announce(s, row, AlertStatus.acknowledged, f"acknowledged by {by}")
        return len(rows)


def escalate_due(sessions: sessionmaker[Session], deadline_s: float, escalate_after_s: float) -> list[str]:
    """Unacknowledged urgent alerts whose timer ran out go to the next number on the agency's
    ladder (a new ledger key: step + 1); the last step escalates no further."""
    created: list[str] = []
    try:
        _escalate(sessions, deadline_s, escalate_after_s, created)
    except IntegrityError:  # another worker escalated the same alert first
        return []
    return created


def _escalate(sessions, deadline_s: float, escalate_after_s: float, created: list[str]) -> None:
    with sessions.begin() as s:
        due = s.scalars(select(AlertSend).where(AlertSend.escalate_at <= now(),
                                                AlertSend.acknowledged_at.is_(None)).limit(100)).all()
        for row in due:
            row.escalate_at = None
            agency = s.get(AgencyRow, row.agency_code)
            step = row.step + 1
            if agency is None or step >= len(agency.phones):
                continue
            aid = alert_id(row.report_id, row.agency_code, "sms", step)
            if s.get(AlertSend, aid) is not None:
                continue
            nxt = AlertSend(
                id=aid, report_id=row.report_id, agency_code=row.agency_code, channel="sms", step=step,
                status="queued", priority=0, attempts=0, next_attempt_at=now(),
                deadline_at=now() + timedelta(seconds=deadline_s), recipients=[agency.phones[step]],
                result=row.result, agency=row.agency, escalate_at=now() + timedelta(seconds=escalate_after_s))
            s.add(nxt)
            _announce(s, nxt, AlertStatus.queued, f"escalation step {step}")
            created.append(aid)
