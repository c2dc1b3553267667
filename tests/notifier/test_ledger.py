"""The send ledger's batch operations, directly on SQLite and on a fresh PostgreSQL database:
claims never take more rows than asked nor a row twice (PostgreSQL would re-run a LIMIT
subquery inside an UPDATE without the materialized CTE), several results for one key in one
batch end as they would in successive batches, and recorded sends carry their events.
Alerts in doubt (a worker died between the provider's acceptance and the ledger's record):
released as such, an SMS looked up at Twilio before any resend, a failed lookup neither sends
nor drops it."""
from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text

from services.notifier import ledger
from services.notifier.channels import build_email
from services.notifier.compose import compose
from services.notifier.dispatcher import Dispatcher
from services.notifier.models import AlertSend
from services.notifier.routing import PlannedAlert
from shared.db import create_schema, make_engine
from shared.heartbeat import beat
from shared.models import OutboxMessage
from shared.schemas import Agency, AlertChannel, ScreeningResult, utcnow
from shared.settings import Settings
from tests.conftest import database_url

AGENCY = Agency(code="ag-ledger", name="Ledger", receives=["minor"], emails=["desk@ledger.example"],
                phones=["+6281100000101", "+6281100000102"])


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


# ---------------------------------------------------------------- alerts in doubt
# A worker killed between a provider's acceptance and the ledger's record leaves the row
# 'sending'; once released it is in doubt. An SMS in doubt is looked up at Twilio (the real
# twilio SDK against the Twilio-compatible sink) before it is sent again.

def _planned(result: ScreeningResult, channel: AlertChannel, phone: str) -> list[tuple[ScreeningResult, PlannedAlert]]:
    agency = AGENCY.model_copy(update={"phones": [phone]})
    recipients = tuple(agency.emails) if channel == AlertChannel.email else (phone,)
    return [(result, PlannedAlert(agency, channel, recipients, 1))]


def _orphan(sessions, planned) -> list:
    """Rows claimed by a worker that then died: released after its heartbeat went stale."""
    ledger.record_planned(sessions, planned, 600, 0, 900)
    claimed = ledger.claim_due(sessions, "dead-worker:1:aaaaaa", 100)
    long_ago = datetime.now(UTC) - timedelta(seconds=60)
    with sessions.begin() as s:
        for row in s.scalars(select(AlertSend).where(AlertSend.id.in_([r.id for r in claimed]))):
            row.claimed_at = long_ago
    return claimed


def test_rows_of_a_dead_worker_come_back_in_doubt_and_say_so_when_sent(sessions):
    phone = f"+62811{uuid.uuid4().int % 10**7:07d}"
    dead = _orphan(sessions, _planned(_result(1), AlertChannel.email, phone) + _planned(_result(1), AlertChannel.sms, phone))
    # A live worker's slow send is not an orphan, however long it takes.
    beat(sessions, "notifier", "live-worker:2:bbbbbb", True)
    ledger.record_planned(sessions, _planned(_result(2), AlertChannel.email, phone), 600, 0, 900)
    slow = ledger.claim_due(sessions, "live-worker:2:bbbbbb", 10)
    with sessions.begin() as s:
        s.get(AlertSend, slow[0].id).claimed_at = datetime.now(UTC) - timedelta(seconds=60)

    assert ledger.release_orphans(sessions, 10) == 2
    with sessions() as s:
        rows = {r.id: r for r in s.scalars(select(AlertSend))}
    assert rows[slow[0].id].status == "sending" and rows[slow[0].id].in_doubt_since is None
    for row in dead:
        assert rows[row.id].status == "queued" and rows[row.id].in_doubt_since == rows[row.id].claimed_at
    assert {e["alert_id"] for e in _events(sessions, "queued") if e["detail"] == ledger.RELEASED} == {r.id for r in dead}

    again = ledger.claim_due(sessions, "worker", 10)
    assert {r.id for r in again} == {r.id for r in dead} and all(r.in_doubt_since for r in again)
    ledger.mark_sent_many(sessions, [(row, f"<{row.id}@x>") for row in again], 300)
    details = {e["alert_id"]: e["detail"] for e in _events(sessions, "sent")}
    assert details == {r.id: ledger.RESENT_EMAIL if r.channel == "email" else ledger.RESENT_SMS for r in again}
    with sessions() as s:
        assert all(s.get(AlertSend, r.id).in_doubt_since is None for r in again)


@pytest.fixture
def dispatcher(sinks, sessions):
    """The notifier's dispatcher (real ledger, real twilio SDK, Twilio-compatible sink), driven
    by hand: deliver() one claimed row at a time."""
    settings = Settings(twilio_account_sid=sinks.sms.account_sid, twilio_auth_token=sinks.sms.auth_token,
                        twilio_from="+15005550006", twilio_api_base=f"http://127.0.0.1:{sinks.twilio_port}",
                        public_url="http://127.0.0.1:9", sms_per_s=100)

    async def run(steps):
        d = Dispatcher(settings, sessions, relay=None, instance="worker")
        recorder = asyncio.create_task(d.recorder.run())
        try:
            return await steps(d)
        finally:
            recorder.cancel()
            await d.close()

    yield lambda steps: asyncio.run(run(steps))
    sinks.sms._lookup_faults.clear()


def _sms_to(sinks, phone: str) -> list[dict]:
    return [m for m in sinks.sms.messages if m["form"]["To"] == phone]


def _row(sessions, aid: str) -> AlertSend:
    with sessions() as s:
        return s.get(AlertSend, aid)


def _due_now(sessions, aid: str) -> None:
    with sessions.begin() as s:
        s.get(AlertSend, aid).next_attempt_at = datetime.now(UTC)


def test_sms_in_doubt_found_at_twilio_is_recorded_not_sent_again(sessions, dispatcher, sinks):
    phone = f"+62811{uuid.uuid4().int % 10**7:07d}"
    (row,) = _orphan(sessions, _planned(_result(3, "urgent"), AlertChannel.sms, phone))

    async def steps(d):
        # What the dead worker did: Twilio accepted its message, the ledger never heard.
        text = compose(row.id, Agency.model_validate(row.agency), ScreeningResult.model_validate(row.result),
                       d.settings.resolved_public_url)
        accepted = await d.sms.send(phone, text.sms, None)
        ledger.release_orphans(sessions, 10)
        (again,) = ledger.claim_due(sessions, "worker", 10)
        await d.deliver(again)
        return accepted

    accepted = dispatcher(steps)
    assert len(_sms_to(sinks, phone)) == 1, "not sent again"
    stored = _row(sessions, row.id)
    assert (stored.status, stored.provider_id, stored.in_doubt_since) == ("sent", accepted.provider_id, None)
    assert stored.failover_at is not None, "its delivery report is awaited as for any SMS"
    assert [e["detail"] for e in _events(sessions, "sent") if e["alert_id"] == row.id] == [ledger.FOUND_SMS]


def test_sms_in_doubt_that_twilio_never_got_is_sent_once(sessions, dispatcher, sinks):
    phone = f"+62811{uuid.uuid4().int % 10**7:07d}"
    (row,) = _orphan(sessions, _planned(_result(4), AlertChannel.sms, phone))  # died before its request went out

    async def steps(d):
        ledger.release_orphans(sessions, 10)
        (again,) = ledger.claim_due(sessions, "worker", 10)
        lookups = sinks.sms.lookups
        await d.deliver(again)
        return sinks.sms.lookups - lookups

    assert dispatcher(steps) >= 1, "Twilio was asked first"
    (sent,) = _sms_to(sinks, phone)
    assert row.id in sent["form"]["Body"], "the body carries the alert id the lookup searches for"
    stored = _row(sessions, row.id)
    assert (stored.status, stored.provider_id, stored.in_doubt_since) == ("sent", sent["sid"], None)
    assert [e["detail"] for e in _events(sessions, "sent") if e["alert_id"] == row.id] == [ledger.RESENT_SMS]


def test_a_twilio_lookup_failure_keeps_the_row_in_doubt_and_it_is_sent_later(sessions, dispatcher, sinks):
    phone = f"+62811{uuid.uuid4().int % 10**7:07d}"
    (row,) = _orphan(sessions, _planned(_result(5), AlertChannel.sms, phone))
    ledger.release_orphans(sessions, 10)
    sinks.sms.fail_next_lookups(2, 503, 20503)

    async def steps(d):
        for _ in range(2):  # Twilio down: neither sent nor dropped
            (again,) = ledger.claim_due(sessions, "worker", 10)
            await d.deliver(again)
            stored = _row(sessions, row.id)
            assert (stored.status, stored.in_doubt_since) == ("queued", again.in_doubt_since)
            assert "in doubt" in stored.last_error and "503" in stored.last_error
            assert _sms_to(sinks, phone) == []
            _due_now(sessions, row.id)  # its retry is due (backoff skipped)
        (again,) = ledger.claim_due(sessions, "worker", 10)
        await d.deliver(again)

    dispatcher(steps)
    assert len(_sms_to(sinks, phone)) == 1
    stored = _row(sessions, row.id)
    assert (stored.status, stored.attempts, stored.in_doubt_since) == ("sent", 4, None)


def test_an_email_has_one_message_id_for_every_attempt():
    first = build_email("Waspada <waspada@dinas.example>", ["a@b.example"], "s", "b", "al_" + "1" * 24)
    again = build_email("Waspada <waspada@dinas.example>", ["a@b.example"], "s", "b", "al_" + "1" * 24)
    assert first.message_id == again.message_id == "<al_111111111111111111111111@dinas.example>"
    assert b"\r\nMessage-ID: <al_111111111111111111111111@dinas.example>\r\n" in first.content
    assert build_email("waspada@localhost", ["a@b.example"], "s", "b", "al_2").message_id == "<al_2@localhost>"


def test_schema_of_an_older_version_gains_the_new_column(tmp_path):
    """`waspada init` on a database made before alert_sends.in_doubt_since existed."""
    for kind in ("sqlite", "postgres"):
        try:
            with database_url(kind, tmp_path) as url:
                engine = make_engine(url)
                create_schema(engine)
                with engine.begin() as connection:
                    connection.execute(text("ALTER TABLE alert_sends DROP COLUMN in_doubt_since"))
                create_schema(engine)
                create_schema(engine)  # idempotent
                assert "in_doubt_since" in {c["name"] for c in inspect(engine).get_columns("alert_sends")}
                engine.dispose()
        except pytest.skip.Exception:
            continue


def test_heartbeats_of_processes_gone_for_a_day_are_forgotten(sessions):
    """Each process start beats under a name of its own: old names must not pile up."""
    from shared.heartbeat import forget_gone
    from shared.models import ServiceHeartbeat

    beat(sessions, "notifier", "gone:1:aaaaaa", True)
    beat(sessions, "notifier", "live:2:bbbbbb", True)
    beat(sessions, "matcher", "other-service:3:cccccc", True)
    with sessions.begin() as s:
        for row in s.scalars(select(ServiceHeartbeat).where(ServiceHeartbeat.instance != "live:2:bbbbbb")):
            row.updated_at = utcnow() - timedelta(days=2)
    assert forget_gone(sessions, "notifier") == 1
    with sessions.begin() as s:
        left = sorted(s.scalars(select(ServiceHeartbeat.instance)))
    assert left == ["live:2:bbbbbb", "other-service:3:cccccc"]  # another service's rows are its own business


def test_under_load_the_dispatcher_claims_in_batches(sessions, sinks, monkeypatch):
    """A claim is a transaction whatever its size: with sends in flight, the dispatcher waits
    for a quarter of its slots before claiming again instead of claiming each slot as it frees.
    Every email still goes out once."""
    from shared.outbox import OutboxRelay

    address = f"batch-{uuid.uuid4().hex[:8]}@agency.example"
    agency = AGENCY.model_copy(update={"emails": [address]})
    count = 160
    ledger.record_planned(sessions, [(_result(i), PlannedAlert(agency, AlertChannel.email, (address,), 1))
                                     for i in range(count)], 600)
    claims = []
    real_claim = ledger.claim_due
    monkeypatch.setattr(ledger, "claim_due", lambda *args: claims.append(real_claim(*args)) or claims[-1])
    settings = Settings(smtp_host="127.0.0.1", smtp_port=sinks.smtp_port, mail_from="waspada@test.example",
                        public_url="http://127.0.0.1:9", email_per_s=100_000)

    async def run():
        d = Dispatcher(settings, sessions, OutboxRelay(sessions, None, ledger.ORIGIN), instance="worker")
        task = asyncio.create_task(d.run())
        try:
            while sum(1 for m in sinks.mail.messages if address in m["rcpt_tos"]) < count:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # anything sent twice would show by now
        finally:
            task.cancel()
            await d.close()

    asyncio.run(run())
    mails = [m for m in sinks.mail.messages if address in m["rcpt_tos"]]
    assert len(mails) == len({m["alert_id"] for m in mails}) == count
    taken = [len(rows) for rows in claims if rows]
    assert sum(taken) == count
    assert len(taken) <= count // 8 + 2, taken  # 32 slots: at least 8 a claim, but for the first and last
