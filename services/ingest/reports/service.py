"""Reports: accept durably (report + outbox row in one transaction), then show the timeline."""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import ReportAlertRow, ReportMatchRow
from shared.db import now
from shared.models import ReportRow
from shared.outbox import enqueue
from shared.schemas import ReportIn, ReportSubmitted, new_id
from shared.topics import REPORTS

ORIGIN = "ingest"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different report body."""


def _request_hash(body: ReportIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def submit(sessions: sessionmaker[Session], body: ReportIn, submitted_by: str,
           idempotency_key: str | None) -> tuple[str, bool]:
    """Store the report and its reports.v1 message together. Returns (report id, created)."""
    scoped_key = f"{submitted_by}:{idempotency_key}" if idempotency_key else None
    request_hash = _request_hash(body)
    if scoped_key:
        replay = _replay(sessions, scoped_key, request_hash)
        if replay:
            return replay, False

    report_id = new_id("rpt")
    received_at = now()
    message = ReportSubmitted(
        **body.model_dump(include=set(ReportSubmitted.model_fields) & set(ReportIn.model_fields)),
        id=report_id,
        received_at=received_at,
        kecamatan=body.location.kecamatan if body.location else None,
        victim_count=body.victims.count if body.victims else 0,
        minors=body.victims.minors if body.victims else False,
    )
    row = ReportRow(
        id=report_id, received_at=received_at, channel=body.channel.value,
        content=message.model_dump(mode="json"),
        desa=body.location.desa if body.location else None,
        reporter_name=body.reporter.name if body.reporter else None,
        reporter_phone=body.reporter.phone if body.reporter else None,
        submitted_by=submitted_by, idempotency_key=scoped_key, request_hash=request_hash,
    )
    try:
        with sessions.begin() as s:
            s.add(row)
            enqueue(s, ORIGIN, REPORTS.name, report_id, message)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its report.
        replay = _replay(sessions, scoped_key, request_hash) if scoped_key else None
        if replay is None:
            raise
        return replay, False
    return report_id, True


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

    events = [{"event": "received", "at": report.received_at}]
    if report.screened_at:
        events.append({"event": "screened", "at": report.screened_at})
    events += [{"event": "match", "at": m.found_at, "entry_id": m.entry_id} for m in matches]
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
                     "evidence": m.evidence, "retro": m.retro, "found_at": m.found_at} for m in matches],
        "alerts": [{"alert_id": a.alert_id, "agency": a.agency_code, "channel": a.channel, "step": a.step,
                    "status": a.status, "detail": a.detail, "updated_at": a.updated_at} for a in alerts],
        "timeline": events,
    }
