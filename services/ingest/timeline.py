"""Keeps each report's timeline up to date from matches.v1 and alerts.v1 (idempotent upserts)."""
from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import ReportAlertRow, ReportMatchRow
from shared.db import run_db
from shared.alert_refs import ack_code
from shared.models import ReportRow
from shared.schemas import AlertEvent, MatchBand, RiskLevel, ScreeningResult
from shared.topics import ALERTS, MATCHES

log = logging.getLogger(__name__)

_RISK_ORDER = list(RiskLevel)
# An alert's status only moves forward; a late "sent" never hides "delivered".
_STATUS_RANK = {"queued": 0, "sent": 1, "failed": 2, "delivered": 3, "acknowledged": 4}


_REPORTS = ReportRow.__table__
_SCREENING_COLUMNS = (_REPORTS.c.id, _REPORTS.c.screened_at, _REPORTS.c.risk_level, _REPORTS.c.categories,
                      _REPORTS.c.indicators)
_UPDATE_SCREENING = (update(_REPORTS).where(_REPORTS.c.id == bindparam("rid"))
                     .values(screened_at=bindparam("new_screened_at"), risk_level=bindparam("new_risk"),
                             categories=bindparam("new_categories"), indicators=bindparam("new_indicators")))


def apply_screenings(s: Session, results: list[ScreeningResult]) -> set[str]:
    """Each result's facts merged into its report (first screening time, highest risk, the union
    of categories and indicators) with one read of those columns and one UPDATE statement for
    the batch, and its matches added or raised. Returns the ids of the reports found (the others
    are purged, or another deployment's)."""
    current = {row.id: row for row in s.execute(
        select(*_SCREENING_COLUMNS).where(_REPORTS.c.id.in_(list({r.report_id for r in results}))))}
    merged: dict[str, dict] = {}
    for result in results:
        row = current.get(result.report_id)
        if row is None:
            continue
        state = merged.get(result.report_id) or {
            "rid": row.id, "new_screened_at": row.screened_at, "new_risk": row.risk_level,
            "new_categories": list(row.categories or []), "new_indicators": list(row.indicators or [])}
        if state["new_screened_at"] is None:
            state["new_screened_at"] = result.screened_at
        if state["new_risk"] is None or _RISK_ORDER.index(result.risk_level) > _RISK_ORDER.index(RiskLevel(state["new_risk"])):
            state["new_risk"] = result.risk_level.value
        state["new_categories"] = sorted(set(state["new_categories"]) | set(result.categories))
        known = {i["code"] for i in state["new_indicators"]}
        state["new_indicators"] = state["new_indicators"] + [
            i.model_dump(mode="json") for i in result.indicators if i.code not in known]
        merged[result.report_id] = state
    if merged:
        s.execute(_UPDATE_SCREENING, list(merged.values()))
    with_matches = [r for r in results if r.matches and r.report_id in current]
    if with_matches:
        matches = {(m.report_id, m.entry_id): m for m in s.scalars(
            select(ReportMatchRow).where(ReportMatchRow.report_id.in_(list({r.report_id for r in with_matches}))))}
        for result in with_matches:
            apply_matches(s, result, matches)
    return set(current)


def apply_matches(s: Session, result: ScreeningResult, matches: dict[tuple[str, str], ReportMatchRow]) -> None:
    """`matches`: the report's match rows by (report, entry), kept current as rows are added."""
    for match in result.matches:
        row = matches.get((result.report_id, match.entry_id))
        evidence = [e.model_dump(mode="json") for e in match.evidence]
        if row is None:
            row = matches[(result.report_id, match.entry_id)] = ReportMatchRow(
                report_id=result.report_id, entry_id=match.entry_id, entry_name=match.entry_name, score=match.score,
                evidence=evidence, retro=result.retro, found_at=result.screened_at, kind=match.kind.value,
                band=match.band.value)
            s.add(row)
            continue
        if match.score > row.score:
            row.score, row.evidence = match.score, evidence
        if match.band == MatchBand.alert and row.band == MatchBand.review.value:
            row.band = MatchBand.alert.value  # found again as a match, or confirmed by a reviewer


_ALERTS = ReportAlertRow.__table__
# The status only moves forward, checked again as it is written: an acknowledgement made
# through the API between reading and writing is never set back.
_UPDATE_ALERT = (update(_ALERTS)
                 .where(_ALERTS.c.alert_id == bindparam("aid"),
                        case(_STATUS_RANK, value=_ALERTS.c.status, else_=0) <= bindparam("rank"))
                 .values(status=bindparam("new_status"), detail=bindparam("new_detail"), updated_at=bindparam("at")))


def apply_alerts(s: Session, events: list[AlertEvent], reports: set[str]) -> None:
    """Alert events in order, for the reports in `reports` (the others are purged or another
    deployment's): one statement inserts the alerts not seen before, one (run for each row)
    updates the others, each row once with the last status the events leave it in."""
    current = dict(s.execute(select(_ALERTS.c.alert_id, _ALERTS.c.status)
                             .where(_ALERTS.c.alert_id.in_(list({e.alert_id for e in events})))).all())
    new: dict[str, dict] = {}
    changed: dict[str, dict] = {}
    for event in events:
        if event.report_id not in reports:
            continue
        status = event.status.value
        change = {"status": status, "detail": event.detail[:200], "updated_at": event.at}
        if event.alert_id not in current:
            new[event.alert_id] = dict(change, alert_id=event.alert_id, report_id=event.report_id,
                                       agency_code=event.agency_code, channel=event.channel.value, step=event.step,
                                       ack_code=ack_code(event.alert_id))
        elif _STATUS_RANK[status] >= _STATUS_RANK.get(current[event.alert_id], 0):
            (new.get(event.alert_id) or changed.setdefault(event.alert_id, {})).update(change)
        else:
            continue
        current[event.alert_id] = status
    if new:
        s.execute(insert(_ALERTS), list(new.values()))
    if changed:
        s.execute(_UPDATE_ALERT, [{"aid": aid, "rank": _STATUS_RANK[c["status"]], "new_status": c["status"],
                                   "new_detail": c["detail"], "at": c["updated_at"]} for aid, c in changed.items()])


def apply_batch(sessions: sessionmaker[Session], records: list) -> None:
    """One transaction for a batch, and a few statements for it, not a few an event: the
    reports it concerns, their match rows and alert rows are each read with one query
    (an ORM get and flush an event cost ~0.5 ms of CPU an event on PostgreSQL)."""
    results: list[ScreeningResult] = []
    events: list[AlertEvent] = []
    for record in records:
        try:
            if record.topic == MATCHES.name:
                results.append(ScreeningResult.model_validate_json(record.value))
            elif record.topic == ALERTS.name:
                events.append(AlertEvent.model_validate_json(record.value))
        except ValueError:
            log.error("timeline: skipped malformed message %s@%s:%s", record.topic, record.partition, record.offset)
    with sessions.begin() as s:
        found = apply_screenings(s, results) if results else set()
        if events:
            ids = {e.report_id for e in events}
            unread = ids - found  # the results' reports were read above
            known = ids & found
            if unread:
                known |= set(s.scalars(select(ReportRow.id).where(ReportRow.id.in_(list(unread)))))
            if known:
                apply_alerts(s, events, known)


async def follow(consumer: AIOKafkaConsumer, sessions: sessionmaker[Session]) -> None:
    """Apply events, then commit offsets: a crash in between re-applies, which is harmless.
    A batch that fails (database away) is retried as it is, never skipped."""
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=500)
        # Every partition's records in one transaction (each keeps its order; a report's
        # events are all on one partition).
        records = [record for part in batches.values() for record in part]
        while records:
            try:
                await run_db(apply_batch, sessions, records)
                break
            except Exception:
                log.exception("timeline: applying a batch failed; retrying")
                await asyncio.sleep(1.0)
        if batches:
            await consumer.commit()
