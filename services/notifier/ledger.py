"""The send ledger's operations. Every state change and its alerts.v1 event commit together."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.models import AlertSend
from services.notifier.routing import PlannedAlert
from shared.db import UtcDateTime, now
from shared.models import ServiceHeartbeat
from shared.outbox import enqueue, enqueue_many
from shared.models import AgencyRow, BrokenContact
from shared.schemas import AlertChannel, AlertEvent, AlertStatus, RiskLevel, ScreeningResult
from shared.topics import ALERTS, ALERTS_DEAD

ORIGIN = "notifier"


def alert_id(report_id: str, agency_code: str, channel: str, step: int) -> str:
    digest = hashlib.sha256(f"{report_id}|{agency_code}|{channel}|{step}".encode()).hexdigest()
    return "al_" + digest[:24]


def _event(row, status: AlertStatus, detail: str = "") -> AlertEvent:
    """The alerts.v1 event for a ledger row (an AlertSend, or anything with its key columns)."""
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


# INSERT ... ON CONFLICT DO NOTHING: a key already in the ledger (a redelivery, an earlier
# screening, another worker a moment ago) is left as it is, without failing the batch.
_INSERT_NEW = sqlite.insert(AlertSend.__table__).on_conflict_do_nothing().returning(AlertSend.__table__.c.id)

# PostgreSQL: the same with the batch as one JSON parameter of one short statement, which the
# driver parses and the server prepares once, whatever the batch size. The JSON columns travel
# as JSON texts inside it (strings), so that any text a report holds (even a NUL, which a
# PostgreSQL string cannot) reaches the json columns as it is.
_INSERT_NEW_PG = text(
    "INSERT INTO alert_sends (id, report_id, agency_code, channel, step, status, priority, attempts, "
    "next_attempt_at, deadline_at, recipients, agency, result, escalate_at, last_error, created_at, updated_at) "
    "SELECT r->>'id', r->>'report_id', r->>'agency_code', r->>'channel', :step, 'queued', "
    "CAST(r->>'priority' AS INTEGER), 0, :stamp, :deadline, CAST(r->>'recipients' AS JSON), "
    "CAST(r->>'agency' AS JSON), CAST(r->>'result' AS JSON), "
    "CAST(r->>'escalate_at' AS TIMESTAMPTZ), '', :stamp, :stamp "
    "FROM json_array_elements(CAST(:rows AS JSON)) AS r "
    "ON CONFLICT DO NOTHING RETURNING id")


def record_planned(sessions: sessionmaker[Session], planned: list[tuple[ScreeningResult, PlannedAlert]],
                   deadline_s: float, step: int = 0, escalate_after_s: float | None = None) -> list[str]:
    """Write ledger rows for alerts not yet in it (one transaction, one INSERT for the batch);
    returns the new alert ids. A key already present (a redelivery, an earlier screening, another
    worker) is not sent again; only its escalation timer starts if the new result made it urgent.
    Several results for one key in a batch (a report re-screened a moment after it came in) end
    as they would one batch after another: the first plans the alert, a later urgent one arms
    its escalation."""
    rows, urgent_sms = {}, {}
    for result, alert in planned:
        aid = alert_id(result.report_id, alert.agency.code, alert.channel.value, step)
        rows.setdefault(aid, (result, alert))
        if alert.channel == AlertChannel.sms and result.risk_level in URGENT:
            urgent_sms.setdefault(aid, result)  # the first urgent result for the key
    if not rows:
        return []
    stamp = now()
    deadline = stamp + timedelta(seconds=deadline_s)
    escalate = stamp + timedelta(seconds=escalate_after_s) if escalate_after_s else None
    values = []
    for aid, (result, alert) in rows.items():
        if escalate and aid in urgent_sms:  # raised later in this batch: as _arm_raised_urgency does
            result = urgent_sms[aid]
        values.append(dict(
            id=aid, report_id=result.report_id, agency_code=alert.agency.code, channel=alert.channel.value,
            step=step, status="queued", priority=alert.priority, attempts=0, next_attempt_at=stamp,
            deadline_at=deadline, recipients=list(alert.recipients), result=result,
            agency=alert.agency.model_dump(mode="json", include={"code", "name", "receives"}),
            # Urgent SMS alerts start the acknowledgement timer (durable: a column, not a task).
            escalate_at=escalate if aid in urgent_sms else None, last_error="", created_at=stamp, updated_at=stamp))
    with sessions.begin() as s:
        if s.get_bind().dialect.name == "postgresql":
            inserted = set(s.scalars(_INSERT_NEW_PG, {"step": step, "stamp": stamp, "deadline": deadline, "rows": json.dumps([
                {"id": v["id"], "report_id": v["report_id"], "agency_code": v["agency_code"], "channel": v["channel"],
                 "priority": v["priority"], "recipients": json.dumps(v["recipients"]),
                 "agency": json.dumps(v["agency"]), "result": v["result"].model_dump_json(),
                 "escalate_at": v["escalate_at"].isoformat() if v["escalate_at"] else None} for v in values])}))
        else:
            inserted = set(s.scalars(_INSERT_NEW, [dict(v, result=v["result"].model_dump(mode="json"))
                                                   for v in values]))
        created = [v["id"] for v in values if v["id"] in inserted]  # in planning order
        enqueue_many(s, ORIGIN, [(ALERTS.name, v["report_id"], _event(SimpleNamespace(**v), AlertStatus.queued))
                                 for v in values if v["id"] in inserted])
        if escalate_after_s:
            _arm_raised_urgency(s, {aid: result for aid, result in urgent_sms.items() if aid not in inserted},
                                escalate_after_s)
    return created


def _claim_statement():
    t, due = AlertSend.__table__, AlertSend.__table__.alias("due_rows")
    # Materialized: PostgreSQL would otherwise re-run a LIMIT subquery for each row it updates,
    # and each re-run (skipping the rows this statement already took) would take more.
    candidates = (select(due.c.id).where(due.c.status == "queued", due.c.next_attempt_at <= bindparam("stamp"))
                  .order_by(due.c.priority, due.c.next_attempt_at).limit(bindparam("limit"))
                  .with_for_update(skip_locked=True)  # SQLite: ignored (one writer at a time)
                  .cte("due").prefix_with("MATERIALIZED"))
    return (update(t).where(t.c.id.in_(select(candidates.c.id)), t.c.status == "queued")
            .values(status="sending", claimed_by=bindparam("instance"), claimed_at=bindparam("stamp"),
                    attempts=t.c.attempts + 1)
            .returning(*t.c))


_CLAIM = _claim_statement()


def claim_due(sessions: sessionmaker[Session], instance: str, limit: int) -> list[Row]:
    """Claim due rows for this worker: urgent first, then by due time. The claim is one
    conditional UPDATE (status still queued) that returns the rows it took, so two workers never
    both take a row; on PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent
    claims take different rows instead of queueing behind each other. The rows come back as
    read-only records with the ledger's columns as attributes (what sending needs), not as ORM
    objects."""
    if limit <= 0:
        return []
    with sessions.begin() as s:
        rows = s.execute(_CLAIM, {"stamp": now(), "limit": limit, "instance": instance}).all()
    rows.sort(key=lambda r: (r.priority, r.next_attempt_at))
    return rows


_MARK_SENT = (
    update(AlertSend.__table__).where(AlertSend.__table__.c.id == bindparam("aid"))
    .values(status="sent", provider_id=bindparam("pid"), updated_at=bindparam("stamp"), last_error="",
            in_doubt_since=None,
            # SMS: the failover timer starts (cleared on "delivered"); other rows keep theirs (None).
            failover_at=func.coalesce(bindparam("failover", type_=UtcDateTime), AlertSend.__table__.c.failover_at))
)


# PostgreSQL: the batch as three array parameters of one statement (see _INSERT_NEW_PG).
_MARK_SENT_PG = text(
    "UPDATE alert_sends AS a SET status = 'sent', provider_id = v.pid, updated_at = :stamp, last_error = '', "
    "in_doubt_since = NULL, failover_at = COALESCE(v.failover, a.failover_at) "
    "FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:pids AS VARCHAR[]), CAST(:failovers AS TIMESTAMPTZ[])) "
    "AS v(id, pid, failover) WHERE a.id = v.id")


def mark_sent_many(sessions: sessionmaker[Session], sent: list[tuple[Row, str | None]],
                   failover_after_s: float | None = None) -> None:
    """Record handed-over sends, many in one transaction: one UPDATE for the batch (SQLite: one
    statement run for each row), their alerts.v1 events in one INSERT. `sent` holds the rows
    as claim_due returned them, each with the provider's id; the events take their key columns
    (and attempt count) from them, as a worker's claimed rows change only by its own hand."""
    if not sent:
        return
    stamp = now()
    failover = stamp + timedelta(seconds=failover_after_s) if failover_after_s else None
    ordered = sorted(sent, key=lambda pair: pair[0].id)  # rows and events in id order, as before
    with sessions.begin() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(_MARK_SENT_PG, {"stamp": stamp, "ids": [row.id for row, _ in ordered],
                                      "pids": [provider_id for _, provider_id in ordered],
                                      "failovers": [failover if row.channel == "sms" else None for row, _ in ordered]})
        else:
            s.execute(_MARK_SENT, [{"aid": row.id, "pid": provider_id, "stamp": stamp,
                                    "failover": failover if row.channel == "sms" else None}
                                   for row, provider_id in ordered])
        enqueue_many(s, ORIGIN, [(ALERTS.name, row.report_id, _event(row, AlertStatus.sent, sent_detail(row)))
                                 for row, _ in ordered])


RESENT_EMAIL = "resent after an unrecorded send (same Message-ID)"
RESENT_SMS = "sent after Twilio showed no earlier attempt"
FOUND_SMS = "already accepted by Twilio in an unrecorded send: not sent again"


def sent_detail(row) -> str:
    """What a sent event says about an alert that was in doubt (see AlertSend.in_doubt_since)."""
    if getattr(row, "in_doubt_since", None) is None:
        return ""
    return RESENT_EMAIL if row.channel == "email" else RESENT_SMS


def mark_found(sessions: sessionmaker[Session], aid: str, provider_id: str, provider_status: str,
               failover_after_s: float | None = None) -> None:
    """An attempt nobody recorded had reached the provider (an SMS in doubt found at Twilio):
    record it as that send instead of sending again, then apply the status the provider gives
    it now (its status callbacks came while the ledger did not know its id)."""
    with sessions.begin() as s:
        row = s.get(AlertSend, aid)
        stamp = now()
        row.status, row.provider_id, row.last_error, row.updated_at = "sent", provider_id, "", stamp
        row.in_doubt_since, row.claimed_by = None, None
        if row.channel == "sms" and failover_after_s:
            row.failover_at = stamp + timedelta(seconds=failover_after_s)
        _announce(s, row, AlertStatus.sent, FOUND_SMS)
        if provider_status == "delivered":
            row.status, row.failover_at = "delivered", None
            _announce(s, row, AlertStatus.delivered, "delivered")
        elif provider_status in ("undelivered", "failed"):
            _fail(s, row, f"provider status {provider_status}")


def mark_retry(sessions: sessionmaker[Session], aid: str, reason: str, delay_s: float,
               in_doubt_since: datetime | None = None) -> bool:
    """Queue another attempt; False (and failed) when the delivery deadline would pass.
    `in_doubt_since`: this attempt (begun then) may have reached the provider all the same."""
    with sessions.begin() as s:
        row = s.get(AlertSend, aid)
        if in_doubt_since is not None:
            row.in_doubt_since = min(row.in_doubt_since or in_doubt_since, in_doubt_since)
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


RELEASED = "in doubt: the worker sending it stopped"


def release_orphans(sessions: sessionmaker[Session], stale_s: float) -> int:
    """Rows left 'sending' by a worker that stopped beating go back to the queue, in doubt:
    that worker may have handed them over without recording it (see AlertSend.in_doubt_since)."""
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
                row.in_doubt_since = min(row.in_doubt_since or row.claimed_at, row.claimed_at)
                row.last_error, row.updated_at = RELEASED, now()
                _announce(s, row, AlertStatus.queued, RELEASED)
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
