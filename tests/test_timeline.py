"""The ingest's timeline consumer applies a batch of matches.v1 and alerts.v1 records as it
would apply them one by one, on SQLite and on a fresh PostgreSQL database: an alert's status
only moves forward (within a batch and across batches), an acknowledgement is never set back,
records of unknown reports and malformed records are skipped, match rows keep the best score."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

from sqlalchemy import select

from services.ingest import timeline
from services.ingest.models import ReportAlertRow, ReportMatchRow
from shared.alert_refs import ack_code
from shared.models import ReportRow
from shared.schemas import AlertEvent, ScreeningResult, utcnow
from shared.topics import ALERTS, MATCHES


def _report(sessions) -> str:
    rid = f"rpt_{uuid.uuid4().hex[:20]}"
    with sessions.begin() as s:
        s.add(ReportRow(id=rid, channel="hotline", content={}))
    return rid


_offset = iter(range(10**9))


def _alert(rid: str, aid: str, status: str, detail: str = "", channel: str = "email") -> SimpleNamespace:
    event = AlertEvent(alert_id=aid, report_id=rid, agency_code="ag-t", channel=channel, step=0, status=status,
                       at=utcnow(), attempt=1, detail=detail)
    return SimpleNamespace(topic=ALERTS.name, partition=0, offset=next(_offset), value=event.model_dump_json().encode())


def _match(rid: str, entries: list[tuple[str, float]], risk: str = "medium") -> SimpleNamespace:
    result = ScreeningResult.model_validate({
        "report_id": rid, "screened_at": utcnow().isoformat(), "categories": ["watchlist_match"], "risk_level": risk,
        "matches": [{"entry_id": e, "entry_name": f"PT {e}", "kind": "agency", "score": score, "evidence": []}
                    for e, score in entries]})
    return SimpleNamespace(topic=MATCHES.name, partition=0, offset=next(_offset), value=result.model_dump_json().encode())


def _alerts(sessions) -> dict[str, ReportAlertRow]:
    with sessions() as s:
        return {r.alert_id: r for r in s.scalars(select(ReportAlertRow))}


def test_alert_statuses_move_forward_within_and_across_batches(sessions):
    rid, gone = _report(sessions), f"rpt_{uuid.uuid4().hex[:20]}"
    a, b, c, d = (f"al_{uuid.uuid4().hex[:24]}" for _ in range(4))
    timeline.apply_batch(sessions, [
        _alert(rid, a, "queued"), _alert(rid, a, "sent", "first"), _alert(rid, a, "queued", "late redelivery"),
        _alert(rid, b, "queued"), _alert(rid, c, "queued"), _alert(rid, c, "delivered", "delivered"),
        _alert(gone, d, "queued"),  # a report purged (or another deployment's): nothing recorded
        SimpleNamespace(topic=ALERTS.name, partition=0, offset=1, value=b"{not json"),
    ])
    rows = _alerts(sessions)
    assert set(rows) == {a, b, c}
    assert (rows[a].status, rows[a].detail, rows[a].channel, rows[a].ack_code) == ("sent", "first", "email", ack_code(a))
    assert rows[b].status == "queued" and rows[c].status == "delivered"

    with sessions.begin() as s:  # an officer acknowledges b through the API meanwhile
        s.get(ReportAlertRow, b).status = "acknowledged"
    timeline.apply_batch(sessions, [_alert(rid, a, "delivered", "delivered"), _alert(rid, b, "sent"),
                                    _alert(rid, c, "sent", "redelivered"), _alert(rid, a, "failed", "late")])
    rows = _alerts(sessions)
    assert (rows[a].status, rows[a].detail) == ("delivered", "delivered")
    assert rows[b].status == "acknowledged"
    assert (rows[c].status, rows[c].detail) == ("delivered", "delivered")


def test_screening_results_update_the_report_and_keep_the_best_match(sessions):
    rid = _report(sessions)
    timeline.apply_batch(sessions, [_match(rid, [("wl_a", 0.5)]), _match(rid, [("wl_a", 0.9), ("wl_b", 0.4)], "high"),
                                    _match(rid, [("wl_a", 0.7)], "low"), _match(f"rpt_{uuid.uuid4().hex[:20]}", [("wl_a", 1)])])
    timeline.apply_batch(sessions, [_match(rid, [("wl_b", 0.6)])])
    with sessions() as s:
        report = s.get(ReportRow, rid)
        matches = {m.entry_id: m.score for m in s.scalars(select(ReportMatchRow))}
    assert report.risk_level == "high" and report.categories == ["watchlist_match"] and report.screened_at
    assert matches == {"wl_a": 0.9, "wl_b": 0.6}
