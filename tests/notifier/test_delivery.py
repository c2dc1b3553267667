"""Delivery under failure, against a real SMTP server and the Twilio-compatible server that the
real twilio SDK talks to: transient failures are retried until delivered once; permanent ones
go to the dead letter topic without a retry; a notifier killed mid-batch loses nothing, sends no
SMS twice and repeats an email only as the same message; two notifier workers on one group send
nothing twice."""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter

from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from services.notifier import ledger
from shared.db import make_engine
from shared.schemas import AlertEvent
from shared.topics import ALERTS_DEAD
from tests.harness import wait_for


def _setup(stack, *, emails=1, phones=1):
    code = f"ag-{uuid.uuid4().hex[:6]}"
    body = {"name": f"Agency {code}", "code": code, "receives": ["watchlist_match"],
            "emails": [f"{code}-{i}@agency.example" for i in range(emails)],
            "phones": [f"+62811{uuid.uuid4().int % 10**7:07d}" for _ in range(phones)]}
    assert stack.api.post("/v1/agencies", json=body).status_code == 201
    name = f"PT Kilat Makmur {uuid.uuid4().hex[:5].upper()}"
    assert stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": name}).status_code == 201
    return body, name


def _submit(stack, name: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = stack.api.post("/v1/reports", json={"channel": "feed", "agency_names": [name]})
        assert response.status_code == 202
        ids.append(response.json()["id"])
    return ids


def _mail_to(stack, address: str) -> list[dict]:
    return [m for m in stack.sinks.mail.messages if address in m["rcpt_tos"]]


def _sms_to(stack, number: str) -> list[dict]:
    return [m for m in stack.sinks.sms.messages if m["form"]["To"] == number]


def _refs(messages, key) -> Counter:
    return Counter(key(m) for m in messages)


def test_smtp_451_for_a_while_then_every_alert_once(stack):
    agency, name = _setup(stack, phones=0)
    address = agency["emails"][0]
    stack.sinks.mail.fail_next(4, "451 4.3.0 Mailbox busy, try later", rcpt=address)
    ids = _submit(stack, name, 3)
    wait_for(lambda: len(_mail_to(stack, address)) >= 3, 60, what="three emails after 451s")
    time.sleep(1.5)  # a duplicate would arrive now
    mails = _mail_to(stack, address)
    assert sorted(_refs(mails, lambda m: m["alert_id"]).values()) == [1, 1, 1]
    assert {m["subject"].split("RPT-")[1][:8].lower() for m in mails} == {i[4:12] for i in ids}


def test_twilio_429_and_500_then_201_delivers_once(stack):
    agency, name = _setup(stack, emails=0)
    number = agency["phones"][0]
    stack.sinks.sms.fail_next(1, 429, 20429, to=number)
    stack.sinks.sms.fail_next(1, 500, 20500, to=number)
    _submit(stack, name, 1)
    wait_for(lambda: _sms_to(stack, number), 60, what="the SMS after 429 and 500")
    time.sleep(1.5)
    assert len(_sms_to(stack, number)) == 1


def test_twilio_21211_goes_to_dead_letter_without_retry(stack):
    agency, name = _setup(stack, emails=0)
    number = agency["phones"][0]
    stack.sinks.sms.fail_next(1, 400, 21211, to=number)
    report_id = _submit(stack, name, 1)[0]

    def failed():
        alerts = stack.api.get(f"/v1/reports/{report_id}").json()["alerts"]
        return [a for a in alerts if a["agency"] == agency["code"] and a["status"] == "failed"]

    alert = wait_for(failed, 60, what="the alert marked failed")[0]
    assert "21211" in alert["detail"]
    time.sleep(2.0)
    assert _sms_to(stack, number) == [], "a permanent failure is not retried"
    assert alert["status"] == "failed"
    dead = asyncio.run(_read_dead_letters(stack.env["WASPADA_KAFKA_BOOTSTRAP"]))
    assert any(e.alert_id == alert["alert_id"] and e.status == "failed" for e in dead)


async def _read_dead_letters(bootstrap: str) -> list[AlertEvent]:
    consumer = AIOKafkaConsumer(ALERTS_DEAD.name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    events = []
    try:
        for _ in range(30):
            batches = await consumer.getmany(timeout_ms=100)
            events += [AlertEvent.model_validate_json(r.value) for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    return events


def _in_hand(stack, agency_code: str) -> set[str]:
    """The alerts the (just killed) notifier had in hand: claimed, not recorded as sent."""
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(
                text("SELECT id FROM alert_sends WHERE status = 'sending' AND agency_code = :a"), {"a": agency_code})}
    finally:
        engine.dispose()


def _sent_events(stack, agency_code: str) -> list[dict]:
    """The notifier's 'sent' events for that agency's alerts, from its outbox."""
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            values = connection.execute(text("SELECT value FROM outbox WHERE origin = 'notifier'")).scalars()
            events = [json.loads(v) for v in values if v]
    finally:
        engine.dispose()
    return [e for e in events if e["agency_code"] == agency_code and e["status"] == "sent"]


def _alert_details(stack, agency_code: str) -> dict[str, str]:
    alerts = stack.api.get("/v1/alerts", params={"limit": 500}).json()
    return {a["alert_id"]: a["detail"] for a in alerts if a["agency"] == agency_code}


def test_kill_9_mid_batch_then_restart_loses_nothing(stack):
    """Email: no alert is lost, and every alert arrives as one message: one Message-ID, however
    often it was sent. It is sent again only if the killed worker had it in hand ('sending' in
    the ledger), since SMTP cannot tell whether a send we never recorded arrived; that resend is
    the same message (a mailbox deduplicating by Message-ID shows it once) and says so."""
    agency, name = _setup(stack, phones=0)
    address = agency["emails"][0]
    stack.sinks.mail.fail_next(10, "451 4.3.0 try later", rcpt=address)  # keep part of the batch in flight
    _submit(stack, name, 20)
    wait_for(lambda: len(_mail_to(stack, address)) >= 3, 60, what="the batch to start arriving")
    stack.stop_service("notifier", kill=True)
    in_hand = _in_hand(stack, agency["code"])
    stack.start_service("notifier")
    stack.wait_healthy()
    wait_for(lambda: len({m["alert_id"] for m in _mail_to(stack, address)}) >= 20, 90,
             what="all 20 alerts after the restart")
    time.sleep(2.0)
    mails = _mail_to(stack, address)
    counts = _refs(mails, lambda m: m["alert_id"])
    assert len(counts) == 20, "every alert arrived"
    ids_per_alert = {alert: {m["message_id"] for m in mails if m["alert_id"] == alert} for alert in counts}
    assert all(ids == {f"<{alert}@test.example>"} for alert, ids in ids_per_alert.items()), ids_per_alert
    repeated = {alert for alert, n in counts.items() if n > 1}
    assert repeated <= in_hand, (repeated, in_hand)
    if repeated:  # admins see which alerts were resent
        wait_for(lambda: all(_alert_details(stack, agency["code"]).get(a) == ledger.RESENT_EMAIL for a in repeated),
                 30, what="the resent alerts' events")


ALERT_LINK = re.compile(r"/alerts/(al_[0-9a-f]{24})")


def test_kill_9_mid_sms_batch_then_restart_sends_each_sms_once(stack):
    """SMS: Twilio is asked about each alert the killed worker had in hand before sending it
    again; those it had already accepted are recorded, not resent. Twilio answers slowly here,
    so that the worker dies with messages accepted and unanswered; and the first lookups after
    the restart fail (Twilio down), which must neither send nor drop those alerts."""
    agency, name = _setup(stack, emails=0)
    number = agency["phones"][0]
    sms = stack.sinks.sms
    sms.respond_delay_s = 1.0
    try:
        _submit(stack, name, 20)
        wait_for(lambda: len(_sms_to(stack, number)) >= 3, 60, what="the SMS batch to start arriving")
        stack.stop_service("notifier", kill=True)
        in_hand = _in_hand(stack, agency["code"])
        accepted_unanswered = {ALERT_LINK.search(m["form"]["Body"]).group(1) for m in _sms_to(stack, number)} & in_hand
        sms.respond_delay_s = 0.0
        sms.fail_next_lookups(3, 503, 20503)
        lookups = sms.lookups
        stack.start_service("notifier")
        stack.wait_healthy()
        wait_for(lambda: len(_sms_to(stack, number)) >= 20, 90, what="all 20 SMS after the restart")
        wait_for(lambda: not _in_hand(stack, agency["code"]), 60, what="every alert settled")
        time.sleep(2.0)
    finally:
        sms.respond_delay_s = 0.0
        sms._lookup_faults.clear()
    counts = _refs(_sms_to(stack, number), lambda m: ALERT_LINK.search(m["form"]["Body"]).group(1))
    assert len(counts) == 20 and max(counts.values()) == 1, counts
    assert accepted_unanswered, "the kill caught messages Twilio had accepted but not answered"
    assert sms.lookups - lookups >= len(in_hand) + 3, "each alert in hand was looked up, past the failures"
    found = {e["alert_id"] for e in _sent_events(stack, agency["code"]) if e["detail"] == ledger.FOUND_SMS}
    assert accepted_unanswered <= found <= in_hand, (accepted_unanswered, found, in_hand)


def test_two_notifier_workers_send_nothing_twice(stack):
    stack.start_service("notifier", instance="notifier-2")
    try:
        stack.wait_healthy()
        agency, name = _setup(stack)
        _submit(stack, name, 15)
        wait_for(lambda: len(_mail_to(stack, agency["emails"][0])) >= 15
                 and len(_sms_to(stack, agency["phones"][0])) >= 15, 90, what="30 alerts from two workers")
        time.sleep(2.0)
        assert max(_refs(_mail_to(stack, agency["emails"][0]), lambda m: m["alert_id"]).values()) == 1
        bodies = _refs(_sms_to(stack, agency["phones"][0]), lambda m: m["form"]["Body"])
        assert len(bodies) == 15 and max(bodies.values()) == 1
    finally:
        stack.stop_service("notifier-2")
