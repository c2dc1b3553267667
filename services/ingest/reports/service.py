"""Reports: accept durably (report + outbox row in one transaction), then show the timeline."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.models import FeedAdRow, ReportAlertRow, ReportMatchRow
from shared.db import now
from shared.models import MatchSuppression, ReportRow
from shared.suppression import suppression_key
from shared.outbox import enqueue
from shared.schemas import ReportIn, ReportSubmitted, new_id
from shared.topics import REPORTS

ORIGIN = "ingest"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different report body."""


def _request_hash(body: ReportIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def submit(sessions: sessionmaker[Session], body: ReportIn, submitted_by: str,
           idempotency_key: str | None, *, within: Callable[[Session, str], None] | None = None) -> tuple[str, bool]:
    """Store the report and its reports.v1 message together. Returns (report id, created).

    within(session, report id): more changes in the same transaction (a tip marked converted);
    an exception from it stores nothing."""
    scoped_key = f"{submitted_by}:{idempotency_key}" if idempotency_key else None
    request_hash = _request_hash(body)
    if scoped_key:
        replay = _replay(sessions, scoped_key, request_hash)
        if replay:
            return replay, False

    values, message = report_values(body, submitted_by=submitted_by)
    report_id = message.id
    row = ReportRow(**values, idempotency_key=scoped_key, request_hash=request_hash)
    try:
        with sessions.begin() as s:
            s.add(row)
            enqueue(s, ORIGIN, REPORTS.name, report_id, message)
            if within is not None:
                within(s, report_id)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its report.
        replay = _replay(sessions, scoped_key, request_hash) if scoped_key else None
        if replay is None:
            raise
        return replay, False
    return report_id, True


def report_values(body: ReportIn, *, submitted_by: str) -> tuple[dict, ReportSubmitted]:
    """A new report's row (column values) and its reports.v1 message: what is screened goes on
    Kafka; who reported and the desa stay in the row."""
    message = ReportSubmitted(
        **body.model_dump(include=set(ReportSubmitted.model_fields) & set(ReportIn.model_fields)),
        id=new_id("rpt"),
        received_at=now(),
        kecamatan=body.location.kecamatan if body.location else None,
        victim_count=body.victims.count if body.victims else 0,
        minors=body.victims.minors if body.victims else False,
    )
    values = {
        "id": message.id, "received_at": message.received_at, "channel": body.channel.value,
        "content": message.model_dump(mode="json"),
        "desa": body.location.desa if body.location else None,
        "reporter_name": body.reporter.name if body.reporter else None,
        "reporter_phone": body.reporter.phone if body.reporter else None,
        "submitted_by": submitted_by,
    }
    return values, message


def _replay(sessions: sessionmaker[Session], scoped_key: str, request_hash: str) -> str | None:
    """The report an earlier request with this key created, if any (same body required)."""
    with sessions() as s:
        existing = s.scalars(select(ReportRow).where(ReportRow.idempotency_key == scoped_key)).first()
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(scoped_key)
    return existing.id


def get_report(sessions: sessionmaker[Session], report_id: str) -> ReportRow | None:
    with sessions() as s:
        return s.get(ReportRow, report_id)


def timeline(sessions: sessionmaker[Session], report: ReportRow, agency_code: str | None = None) -> dict:
    """The report's public view: facts, what screening found and who was told what.

    agency_code limits alerts to that agency's own (for agency officers)."""
    with sessions() as s:
        matches = s.scalars(
            select(ReportMatchRow).where(ReportMatchRow.report_id == report.id).order_by(ReportMatchRow.score.desc())
        ).all()
        alert_query = select(ReportAlertRow).where(ReportAlertRow.report_id == report.id)
        if agency_code:
            alert_query = alert_query.where(ReportAlertRow.agency_code == agency_code)
        alerts = s.scalars(alert_query.order_by(ReportAlertRow.agency_code, ReportAlertRow.channel)).all()
        feed = s.get(FeedAdRow, report.id) if report.channel == "feed" else None

    if agency_code:  # an agency is told of matches only, never of possible ones
        matches = [m for m in matches if (m.band or "alert") == "alert" and m.false_positive_by is None]
    events = [{"event": "received", "at": report.received_at}]
    if report.screened_at:
        events.append({"event": "screened", "at": report.screened_at})
    events += [{"event": "match" if (m.band or "alert") == "alert" else "possible_match", "at": m.found_at,
                "entry_id": m.entry_id} for m in matches]
    events += [{"event": f"review_{m.review_status}", "at": m.reviewed_at, "entry_id": m.entry_id}
               for m in matches if m.review_status and m.reviewed_at]
    events += [{"event": f"alert_{a.status}", "at": a.updated_at, "agency": a.agency_code, "channel": a.channel}
               for a in alerts]
    events.sort(key=lambda e: e["at"])
    content = dict(report.content)
    status = "alerted" if alerts else ("screened" if report.screened_at else "received")
    return {
        "id": report.id,
        "status": status,
        "channel": report.channel,
        "received_at": report.received_at,
        "screened_at": report.screened_at,
        "risk_level": report.risk_level,
        "categories": report.categories or [],
        "indicators": report.indicators or [],
        "content": {k: content.get(k) for k in (
            "agency_names", "recruiter_names", "phones", "emails", "urls", "social_handles",
            "license_numbers", "ad_text", "destination_country", "kecamatan", "victim_count", "minors")},
        "matches": [{"entry_id": m.entry_id, "entry_name": m.entry_name, "score": m.score,
                     "band": m.band or "alert", "review": m.review_status or ("pending" if m.band == "review" else None),
                     "evidence": m.evidence, "retro": m.retro, "found_at": m.found_at,
                     "false_positive": m.false_positive_by is not None} for m in matches],
        "feed": feed and {"source": feed.source, "url": feed.url, "posted_at": feed.posted_at,
                          "seen_count": feed.seen_count, "first_seen_at": feed.first_seen_at,
                          "last_seen_at": feed.last_seen_at},
        "hold": report.hold_reason is not None,
        "purged": report.purged_at is not None,
        "alerts": [{"alert_id": a.alert_id, "agency": a.agency_code, "channel": a.channel, "step": a.step,
                    "status": a.status, "detail": a.detail, "updated_at": a.updated_at} for a in alerts],
        "timeline": events,
    }


# ---------------------------------------------------------------- confidential reads, review, retention

REPORTER_FIELDS = ("reporter_name", "reporter_phone", "desa")


def read_reporter(sessions: sessionmaker[Session], report_id: str, actor: str) -> dict | None:
    """The confidential part of a report. Every read is audited (which fields, never their values)."""
    with sessions.begin() as s:
        row = s.get(ReportRow, report_id)
        if row is None:
            return None
        audit.record(s, actor, "report.reporter.read", "report", report_id, None,
                     {"fields": [f for f in REPORTER_FIELDS if getattr(row, f)]})
        return {"report_id": row.id, "reporter_name": row.reporter_name, "reporter_phone": row.reporter_phone,
                "desa": row.desa, "purged": row.purged_at is not None}


def set_hold(sessions: sessionmaker[Session], report_id: str, reason: str | None, actor: str) -> bool:
    """Hold a report for a case (its personal data is then kept past the retention period), or release it."""
    with sessions.begin() as s:
        row = s.get(ReportRow, report_id, with_for_update=True)
        if row is None:
            return False
        before = {"hold_reason": row.hold_reason}
        row.hold_reason, row.hold_by = reason, (actor if reason else None)
        audit.record(s, actor, "report.hold" if reason else "report.release", "report", report_id,
                     before, {"hold_reason": reason})
        return True


class NoSuchMatch(Exception):
    pass


def mark_false_positive(sessions: sessionmaker[Session], report_id: str, entry_id: str, reason: str,
                        actor: str) -> list[str]:
    """A reviewer rules a match wrong: each report value that matched the entry is suppressed
    for that entry in all future screening. Returns the suppressed values."""
    with sessions.begin() as s:
        match = s.get(ReportMatchRow, (report_id, entry_id), with_for_update=True)
        if match is None:
            raise NoSuchMatch(report_id, entry_id)
        return suppress(s, match, reason, actor)


def suppress(s: Session, match: ReportMatchRow, reason: str, actor: str) -> list[str]:
    """Inside the caller's transaction: the values of a match ruled wrong never again count for
    its entry (MatchSuppression, read by the matcher), recorded on the match and audited."""
    values = sorted({e["report_value"] for e in match.evidence if e.get("report_value")})
    keys = {suppression_key(v): v for v in values}
    known = set(s.scalars(select(MatchSuppression.value_key).where(
        MatchSuppression.entry_id == match.entry_id, MatchSuppression.value_key.in_(list(keys)))))
    for key, value in keys.items():
        if key not in known:
            s.add(MatchSuppression(entry_id=match.entry_id, value_key=key, report_value=value[:300],
                                   report_id=match.report_id, reason=reason, created_by=actor, created_at=now()))
    match.false_positive_by, match.false_positive_reason = actor, reason
    audit.record(s, actor, "match.false_positive", "report_match", f"{match.report_id}/{match.entry_id}", None,
                 {"entry_id": match.entry_id, "suppressed_values": len(keys), "reason": reason})
    return values


def purge_expired(sessions: sessionmaker[Session], retention_days: int, actor: str = "system",
                  batch: int = 500) -> int:
    """Erase reporter identity, desa and free ad text from reports older than the retention
    period that no case holds. The facts about recruiters stay (they are the case, not the
    victim). Audited: one record per purged report."""
    cutoff = now() - timedelta(days=retention_days)
    purged = 0
    while True:
        with sessions.begin() as s:
            rows = s.scalars(select(ReportRow).where(
                ReportRow.received_at < cutoff, ReportRow.purged_at.is_(None), ReportRow.hold_reason.is_(None))
                .order_by(ReportRow.received_at).limit(batch).with_for_update()).all()
            if not rows:
                return purged
            at = now()
            changes = []
            for row in rows:
                fields = [f for f in REPORTER_FIELDS if getattr(row, f)] + (["ad_text"] if row.content.get("ad_text") else [])
                row.reporter_name = row.reporter_phone = row.desa = None
                row.content = {**row.content, "ad_text": ""}
                row.purged_at = at
                changes.append(audit.Change("retention.purge", "report", row.id, None,
                                            {"fields": fields, "retention_days": retention_days}))
            audit.record_many(s, actor, changes)
            purged += len(rows)


def list_reports(sessions: sessionmaker[Session], submitted_by: str | None, limit: int, offset: int) -> tuple[int, list[dict]]:
    query = select(ReportRow)
    if submitted_by is not None:
        query = query.where(ReportRow.submitted_by == submitted_by)
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.scalars(query.order_by(ReportRow.received_at.desc(), ReportRow.id).limit(limit).offset(offset)).all()
        return total, [{"id": r.id, "received_at": r.received_at, "channel": r.channel, "screened_at": r.screened_at,
                        "risk_level": r.risk_level, "categories": r.categories or []} for r in rows]
