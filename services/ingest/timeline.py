"""Keeps each report's timeline up to date from matches.v1 and alerts.v1 (idempotent upserts)."""
from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import ReportAlertRow, ReportMatchRow
from shared.db import run_db
from shared.alert_refs import ack_code
from shared.models import ReportRow
from shared.schemas import AlertEvent, RiskLevel, ScreeningResult
from shared.topics import ALERTS, MATCHES

log = logging.getLogger(__name__)

_RISK_ORDER = list(RiskLevel)
# An alert's status only moves forward; a late "sent" never hides "delivered".
_STATUS_RANK = {"queued": 0, "sent": 1, "failed": 2, "delivered": 3, "acknowledged": 4}


def apply_screening(s: Session, result: ScreeningResult) -> None:
    report = s.get(ReportRow, result.report_id)
    if report is None:  # purged, or another deployment's report
        return
    if report.screened_at is None:
        report.screened_at = result.screened_at
    if report.risk_level is None or _RISK_ORDER.index(result.risk_level) > _RISK_ORDER.index(RiskLevel(report.risk_level)):
        report.risk_level = result.risk_level.value
    report.categories = sorted(set(report.categories or []) | set(result.categories))
    known = {i["code"] for i in report.indicators or []}
    report.indicators = list(report.indicators or []) + [
        i.model_dump(mode="json") for i in result.indicators if i.code not in known]
    for match in result.matches:
        row = s.get(ReportMatchRow, (result.report_id, match.entry_id))
        evidence = [e.model_dump(mode="json") for e in match.evidence]
        if row is None:
            s.add(ReportMatchRow(report_id=result.report_id, entry_id=match.entry_id, entry_name=match.entry_name,
                                 score=match.score, evidence=evidence, retro=result.retro,
                                 found_at=result.screened_at))
        elif match.score > row.score:
            row.score, row.evidence = match.score, evidence


def apply_alert(s: Session, event: AlertEvent) -> None:
    if s.get(ReportRow, event.report_id) is None:
        return
    row = s.get(ReportAlertRow, event.alert_id)
    if row is None:
        s.add(ReportAlertRow(alert_id=event.alert_id, report_id=event.report_id, agency_code=event.agency_code,
                             channel=event.channel.value, step=event.step, status=event.status.value,
                             detail=event.detail[:200], updated_at=event.at, ack_code=ack_code(event.alert_id)))
    elif _STATUS_RANK[event.status.value] >= _STATUS_RANK.get(row.status, 0):
        row.status, row.detail, row.updated_at = event.status.value, event.detail[:200], event.at


def apply_batch(sessions: sessionmaker[Session], records: list) -> None:
    with sessions.begin() as s:
        for record in records:
            try:
                if record.topic == MATCHES.name:
                    apply_screening(s, ScreeningResult.model_validate_json(record.value))
                elif record.topic == ALERTS.name:
                    apply_alert(s, AlertEvent.model_validate_json(record.value))
                s.flush()
            except ValueError:
                log.error("timeline: skipped malformed message %s@%s:%s", record.topic, record.partition, record.offset)


async def follow(consumer: AIOKafkaConsumer, sessions: sessionmaker[Session]) -> None:
    """Apply events, then commit offsets: a crash in between re-applies, which is harmless.
    A batch that fails (database away) is retried as it is, never skipped."""
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=500)
        for records in batches.values():
            while True:
                try:
                    await run_db(apply_batch, sessions, records)
                    break
                except Exception:
                    log.exception("timeline: applying a batch failed; retrying")
                    await asyncio.sleep(1.0)
        if batches:
            await consumer.commit()
