"""Tips by SMS and WhatsApp end to end: Twilio posts the message to the signed inbound webhook;
it waits as a draft in GET /v1/tips; the sender gets one acknowledgement reply through the
notifier; an operator turns it into a report (screened, alerting the agency) or dismisses it.
The sender's number is the reporter's identity: it is in no Kafka message, no service log, no
agency SMS or email. SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update
from twilio.request_validator import RequestValidator

from shared.db import make_engine, make_sessionmaker, now
from shared.models import TipRow
from shared.settings import Settings
from tests.harness import REPO, wait_for
from tests.test_privacy import _all_messages

TWILIO_NUMBER = "+15005550006"  # WASPADA_TWILIO_FROM in the harness
REPLY = Settings().tip_reply


def _number(prefix: str = "+62812") -> str:
    return f"{prefix}{uuid.uuid4().int % 10**7:07d}"


def _inbound(stack, sender: str, body: str, sid: str | None = None, signature: str | None = None,
             **extra) -> httpx.Response:
    whatsapp = bool(sender) and sender.startswith("whatsapp:")
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": stack.sinks.sms.account_sid,
              "From": sender, "To": ("whatsapp:" if whatsapp else "") + TWILIO_NUMBER, "Body": body,
              "NumMedia": "0", **extra}
    params = {k: v for k, v in params.items() if v is not None}
    url = f"{stack.base_url}/v1/webhooks/twilio/inbound"
    sig = signature or RequestValidator(stack.sinks.sms.auth_token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=10)


def _sms_to(stack, address: str) -> list[dict]:
    return [m for m in stack.sinks.sms.messages if m["form"]["To"] == address]


def _draft(client, text: str) -> dict:
    return next((t for t in client.get("/v1/tips", params={"limit": 500}).json()["tips"] if t["body"] == text), None)


def test_a_whatsapp_tip_becomes_a_report_that_alerts_and_its_sender_stays_secret(stack):
    code = f"tip-{uuid.uuid4().hex[:6]}"
    agency_phone = _number("+62811")
    stack.api.post("/v1/agencies", json={"name": "Unit PPA", "code": code, "emails": [f"{code}@polri.example"],
                                         "phones": [agency_phone], "receives": ["watchlist_match"]}).raise_for_status()
    recruiter_phone = _number("+62857")
    stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": f"Calo {uuid.uuid4().hex[:6]}",
                                                  "phones": [recruiter_phone]}).raise_for_status()
    sender = _number()
    text = f"Ada calo tawarkan kerja di Malaysia tanpa biaya, nomornya {recruiter_phone} ({uuid.uuid4().hex[:6]})"

    answer = _inbound(stack, f"whatsapp:{sender}", text)
    assert answer.status_code == 200 and "<Response/>" in answer.text and "Kode" not in answer.text
    operator = stack.client(stack.token("operator"))
    tip = wait_for(lambda: _draft(operator, text), 10, what="the tip in the operators' queue")
    assert tip["channel"] == "whatsapp" and tip["status"] == "draft"
    assert tip["sender"] == sender[:6] + "****" + sender[-3:], "operators see the sender masked only"
    assert sender[3:] not in str(operator.get(f"/v1/tips/{tip['id']}").json())

    reply = wait_for(lambda: _sms_to(stack, f"whatsapp:{sender}"), 30, what="the acknowledgement reply")
    assert reply[0]["form"]["From"] == f"whatsapp:{TWILIO_NUMBER}" and reply[0]["form"]["Body"] == REPLY

    made = operator.post(f"/v1/tips/{tip['id']}/report", json={"phones": [recruiter_phone],
                                                               "location": {"kecamatan": "Kroya"}})
    assert made.status_code == 202, made.text
    report_id = made.json()["report_id"]
    assert made.json()["tip"]["status"] == "converted" and made.json()["tip"]["report_id"] == report_id
    sms = wait_for(lambda: _sms_to(stack, agency_phone), 60, what="the agency's SMS alert")
    mail = wait_for(lambda: [m for m in stack.sinks.mail.messages if f"{code}@polri.example" in m["rcpt_tos"]], 60,
                    what="the agency's email alert")
    view = operator.get(f"/v1/reports/{report_id}").json()  # the operator who converted it sees it
    assert view["channel"] == "whatsapp" and view["content"]["ad_text"] == text
    assert view["content"]["kecamatan"] == "Kroya" and view["matches"]
    reporter = stack.api.get(f"/v1/reports/{report_id}/reporter").json()
    assert reporter["reporter_phone"] == sender, "the sender is the report's confidential reporter"
    assert operator.post(f"/v1/tips/{tip['id']}/dismiss", json={"reason": "x"}).status_code == 409
    assert operator.post(f"/v1/tips/{tip['id']}/report", json={}).status_code == 409
    assert any(t["id"] == tip["id"] for t in operator.get("/v1/tips", params={"status": "converted"}).json()["tips"])
    audit = stack.api.get("/v1/audit", params={"action": "tip.convert", "target_id": tip["id"]}).json()["records"]
    assert len(audit) == 1 and audit[0]["after"]["report_id"] == report_id

    time.sleep(1.5)  # the sweep and any redelivery had their chance to reply again
    assert len(_sms_to(stack, f"whatsapp:{sender}")) == 1, "exactly one reply"
    national = sender[3:]  # 812xxxxxxx: the number however written
    topics = asyncio.run(_all_messages(stack.env["WASPADA_KAFKA_BOOTSTRAP"])).decode(errors="replace")
    assert report_id in topics and tip["id"] in topics, "the topics were read"
    agency_sms = "\n".join(m["form"]["Body"] + m["form"]["To"] for m in sms)
    mails = "\n".join(m["subject"] + m["body"] for m in mail)
    for place, seen in (("Kafka topics", topics), ("service logs", stack.logs()), ("agency SMS", agency_sms),
                        ("agency email", mails), ("audit log", str(audit))):
        assert national not in seen, f"the sender's number found in {place}"
    operator.close()


def test_a_plain_sms_tip_is_dismissed_once(stack):
    sender = _number("+62813")
    text = f"Tes saja {uuid.uuid4().hex[:6]}"
    assert _inbound(stack, sender, text).status_code == 200
    operator = stack.client(stack.token("operator"))
    tip = wait_for(lambda: _draft(operator, text), 10, what="the tip")
    assert tip["channel"] == "sms"
    refused = operator.post(f"/v1/tips/{tip['id']}/dismiss", json={})
    assert refused.status_code == 422 and "reason" in refused.text
    dismissed = operator.post(f"/v1/tips/{tip['id']}/dismiss", json={"reason": "pesan uji"})
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert operator.post(f"/v1/tips/{tip['id']}/dismiss", json={"reason": "lagi"}).status_code == 409
    assert operator.post(f"/v1/tips/{tip['id']}/report", json={}).status_code == 409
    assert _draft(operator, text) is None
    reply = wait_for(lambda: _sms_to(stack, sender), 30, what="the SMS reply")
    assert reply[0]["form"]["From"] == TWILIO_NUMBER and reply[0]["form"]["Body"] == REPLY
    audit = stack.api.get("/v1/audit", params={"action": "tip.dismiss", "target_id": tip["id"]}).json()["records"]
    assert len(audit) == 1 and audit[0]["after"]["reason"] == "pesan uji"
    assert operator.get("/v1/tips/tip_nope").status_code == 404
    assert operator.post("/v1/tips/tip_nope/dismiss", json={"reason": "x"}).status_code == 404
    assert operator.post(f"/v1/tips/{tip['id']}/report", json={"channel": "web"}).status_code == 422
    operator.close()


def test_twilio_retrying_the_same_message_makes_one_tip_and_one_reply(stack):
    sender, sid = _number(), "SM" + uuid.uuid4().hex
    text = f"Kakak saya dibawa ke Batam {uuid.uuid4().hex[:6]}"
    assert _inbound(stack, f"whatsapp:{sender}", text, sid=sid).status_code == 200
    assert _inbound(stack, f"whatsapp:{sender}", text, sid=sid).status_code == 200
    wait_for(lambda: _sms_to(stack, f"whatsapp:{sender}"), 30, what="the reply")
    time.sleep(1.5)
    tips = [t for t in stack.api.get("/v1/tips", params={"limit": 500}).json()["tips"] if t["body"] == text]
    assert len(tips) == 1 and len(_sms_to(stack, f"whatsapp:{sender}")) == 1


def test_webhook_refuses_forged_or_incomplete_messages_and_officers_are_not_tipsters(stack):
    sender = _number()
    assert _inbound(stack, sender, "halo", signature="forged").status_code == 403
    missing = _inbound(stack, sender, None)
    assert missing.status_code == 422 and "Body" in missing.text
    assert _inbound(stack, None, "halo").status_code == 422
    # An agency officer's message that is no acknowledgement is answered as before, not queued.
    code, officer = f"tip-{uuid.uuid4().hex[:6]}", _number("+62811")
    stack.api.post("/v1/agencies", json={"name": "Polsek", "code": code, "phones": [officer]}).raise_for_status()
    text = f"OK ZZZZ {uuid.uuid4().hex[:4]}"
    for address in (officer, f"whatsapp:{officer}"):
        answer = _inbound(stack, address, text)
        assert answer.status_code == 200 and "Kode tidak dikenal" in answer.text
    # Media only: still a tip; nothing at all: not one.
    photo = _inbound(stack, sender, "", NumMedia="1", MediaUrl0="https://api.twilio.com/media/x")
    assert photo.status_code == 200 and "<Response/>" in photo.text
    time.sleep(0.5)
    tips = stack.api.get("/v1/tips", params={"limit": 500}).json()["tips"]
    assert not any(t["body"] == text for t in tips)
    assert any(t["num_media"] == 1 and t["sender"] == sender[:6] + "****" + sender[-3:] for t in tips)


def test_retention_erases_a_tips_sender_and_text(stack):
    sender, text = _number(), f"Tetangga saya dijanjikan kerja {uuid.uuid4().hex[:6]}"
    assert _inbound(stack, sender, text).status_code == 200
    tip = wait_for(lambda: _draft(stack.api, text), 10, what="the tip")
    engine = make_engine(stack.database_url)
    with make_sessionmaker(engine).begin() as s:
        s.execute(update(TipRow).where(TipRow.id == tip["id"]).values(received_at=now() - timedelta(days=400)))
    result = subprocess.run(stack.waspada("retention", "purge", "--days", "365"), env=stack.env, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with make_sessionmaker(engine)() as s:
        row = s.get(TipRow, tip["id"])
        assert (row.sender, row.body) == (None, None) and row.purged_at is not None
    engine.dispose()
    purged = stack.api.get(f"/v1/tips/{tip['id']}").json()
    assert purged["purged"] and purged["body"] is None and purged["sender"] is None
    records = stack.api.get("/v1/audit", params={"action": "retention.purge", "target_id": tip["id"]}).json()["records"]
    assert len(records) == 1 and set(records[0]["after"]["fields"]) == {"sender", "body"}
    assert sender[3:] not in str(records) and text not in str(records)
