"""The send ledger's batch operations, directly on SQLite and on a fresh PostgreSQL database:
claims never take more rows than asked nor a row twice (PostgreSQL would re-run a LIMIT
subquery inside an UPDATE without the materialized CTE), several results for one key in one
batch end as they would in successive batches, and recorded sends carry their events."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from services.notifier import ledger
from services.notifier.models import AlertSend
from services.notifier.routing import PlannedAlert
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.models import OutboxMessage
from shared.schemas import Agency, AlertChannel, ScreeningResult, utcnow
from tests.conftest import database_url

AGENCY = Agency(code="ag-ledger", name="Ledger", receives=["minor"], emails=["desk@ledger.example"],
                phones=["+6281100000101", "+6281100000102"])


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        create_schema(engine)
        yield make_sessionmaker(engine)
        engine.dispose()


def _result(i: int, risk: str = "medium") -> ScreeningResult:
    return ScreeningResult(report_id=f"rpt_{i:020d}", screened_at=utcnow(), categories=["minor"], risk_level=risk)


def _both(result: ScreeningResult) -> list[tuple[ScreeningResult, PlannedAlert]]:
    return [(result, PlannedAlert(AGENCY, AlertChannel.email, tuple(AGENCY.emails), 1)),
            (result, PlannedAlert(AGENCY, AlertChannel.sms, (AGENCY.phones[0],), 1))]


def _events(sessions, status: str) -> list[dict]:
    with sessions() as s:
        values = s.scalars(select(OutboxMessage.value).where(OutboxMessage.origin == ledger.ORIGIN)
                           .order_by(OutboxMessage.id))
        return [e for e in map(json.loads, values) if e["status"] == status]


def test_claims_take_at_most_the_limit_and_never_a_row_twice(sessions):
    created = ledger.record_planned(sessions, [p for i in range(60) for p in _both(_result(i))], 600, 0, 900)
    assert len(created) == 120
    with ThreadPoolExecutor(4) as pool:
        claims = list(pool.map(lambda w: [ledger.claim_due(sessions, f"worker-{w}", 7) for _ in range(12)], range(4)))
    taken = [row.id for worker in claims for claim in worker for row in claim]
    assert max(len(claim) for worker in claims for claim in worker) <= 7
    assert len(taken) == len(set(taken)) == 120
    assert ledger.claim_due(sessions, "late", 7) == []
    with sessions() as s:
        assert {(r.status, r.attempts) for r in s.scalars(select(AlertSend))} == {("sending", 1)}


def test_a_later_urgent_result_in_the_same_batch_arms_escalation(sessions):
    first, later = _result(1, "medium"), _result(1, "urgent")
    created = ledger.record_planned(sessions, _both(first) + _both(later), 600, 0, 900)
    assert len(created) == 2, "one alert per key"
    assert len(_events(sessions, "queued")) == 2
    with sessions() as s:
        rows = {r.channel: r for r in s.scalars(select(AlertSend))}
    assert rows["sms"].escalate_at is not None and rows["sms"].result["risk_level"] == "urgent"
    assert rows["email"].escalate_at is None, "only SMS alerts escalate"
    # Already in the ledger: a later urgent result arms it once, the alert is not planned again.
    other = _result(2, "medium")
    ledger.record_planned(sessions, _both(other), 600, 0, 900)
    assert ledger.record_planned(sessions, _both(other) + _both(_result(2, "high")), 600, 0, 900) == []
    with sessions() as s:
        sms = s.get(AlertSend, ledger.alert_id(other.report_id, AGENCY.code, "sms", 0))
    assert sms.escalate_at is not None and sms.result["risk_level"] == "high"


def test_recorded_sends_carry_provider_ids_timers_and_events(sessions):
    ledger.record_planned(sessions, [p for i in range(5) for p in _both(_result(i))], 600, 0, 900)
    rows = ledger.claim_due(sessions, "worker", 100)
    assert len(rows) == 10
    ledger.mark_sent_many(sessions, [(row, f"<{row.id}@provider>") for row in rows], 300)
    with sessions() as s:
        stored = list(s.scalars(select(AlertSend)))
    assert all(r.status == "sent" and r.provider_id == f"<{r.id}@provider>" and r.last_error == "" for r in stored)
    assert all((r.failover_at is not None) == (r.channel == "sms") for r in stored), "SMS failover timer only"
    sent = _events(sessions, "sent")
    assert sorted(e["alert_id"] for e in sent) == sorted(r.id for r in rows)
    assert {e["attempt"] for e in sent} == {1}


def test_any_text_in_a_result_is_stored_as_given(sessions):
    """A NUL or a quote in report text must not make a batch fail (it would be retried forever)."""
    indicator = {"code": "x", "category": "minor", "phrase": 'nul\x00 "kutip" \\ \u00e9\u2603', "explanation": "e",
                 "source": "s"}
    result = ScreeningResult(report_id="rpt_" + "7" * 20, screened_at=utcnow(), categories=["minor"],
                             risk_level="low", indicators=[indicator], kecamatan="Kec. \u00c9")
    assert len(ledger.record_planned(sessions, _both(result), 600, 0, 900)) == 2
    rows = ledger.claim_due(sessions, "worker", 10)
    assert [r.result for r in rows] == [result.model_dump(mode="json")] * 2
