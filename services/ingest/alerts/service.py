"""Alerts as the ingest knows them (from alerts.v1): listing, and acknowledgement by an agency.

An acknowledgement is recorded here at once (the officer sees it) and sent to the notifier
through the outbox (receipts.v1), which stops escalation and announces it on alerts.v1."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import ReportAlertRow
from shared.alert_refs import case_ref
from shared.db import now
from shared.outbox import enqueue
from shared.schemas import DeliveryReceipt
from shared.topics import RECEIPTS

ORIGIN = "ingest"


def to_view(row: ReportAlertRow) -> dict:
    return {"alert_id": row.alert_id, "report_id": row.report_id, "case_ref": case_ref(row.report_id),
            "agency": row.agency_code, "channel": row.channel, "step": row.step, "status": row.status,
            "detail": row.detail, "updated_at": row.updated_at, "acknowledged_at": row.acknowledged_at}


def list_alerts(sessions: sessionmaker[Session], agency_code: str | None, status: str | None,
                limit: int, offset: int) -> list[dict]:
    query = select(ReportAlertRow).order_by(ReportAlertRow.updated_at.desc()).limit(limit).offset(offset)
    if agency_code:
        query = query.where(ReportAlertRow.agency_code == agency_code)
    if status:
        query = query.where(ReportAlertRow.status == status)
    with sessions() as s:
        return [to_view(r) for r in s.scalars(query)]


def get(sessions: sessionmaker[Session], alert_id: str) -> ReportAlertRow | None:
    with sessions() as s:
        return s.get(ReportAlertRow, alert_id)


def acknowledge(sessions: sessionmaker[Session], alert: ReportAlertRow, by: str) -> int:
    """The agency acknowledges the report this alert is about (every channel and step of it)."""
    with sessions.begin() as s:
        rows = s.scalars(select(ReportAlertRow).where(ReportAlertRow.report_id == alert.report_id,
                                                      ReportAlertRow.agency_code == alert.agency_code)).all()
        fresh = [r for r in rows if r.acknowledged_at is None]
        for row in fresh:
            row.status, row.acknowledged_at, row.acknowledged_by, row.updated_at = "acknowledged", now(), by, now()
        if fresh:
            enqueue(s, ORIGIN, RECEIPTS.name, alert.report_id, DeliveryReceipt(
                alert_id=alert.alert_id, kind="ack", report_id=alert.report_id, agency_code=alert.agency_code,
                by=by, at=now()))
        return len(fresh)


def find_by_ack_code(sessions: sessionmaker[Session], code: str, agency_codes: set[str]) -> ReportAlertRow | None:
    with sessions() as s:
        return s.scalars(select(ReportAlertRow).where(
            ReportAlertRow.ack_code == code.upper(), ReportAlertRow.agency_code.in_(agency_codes))
            .order_by(ReportAlertRow.updated_at.desc())).first()
