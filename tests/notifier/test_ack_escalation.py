"""Acknowledgement (API, web page and SMS reply) and escalation along an agency's ladder.
The stack escalates unacknowledged urgent alerts after 3 s (WASPADA_ESCALATE_AFTER_S)."""
from __future__ import annotations

import time
import uuid

import httpx
from twilio.request_validator import RequestValidator

from shared.alert_refs import ack_code
from tests.harness import wait_for


def _agency(stack, phones: int) -> dict:
    code = f"esc-{uuid.uuid4().hex[:6]}"
    body = {"name": f"Agency {code}", "code": code, "receives": ["minor"], "emails": [],
            "phones": [f"+62811{uuid.uuid4().int % 10**7:07d}" for _ in range(phones)]}
    assert stack.api.post("/v1/agencies", json=body).status_code == 201
    return body


def _urgent_report(stack) -> str:
    name = f"Calo Anak {uuid.uuid4().hex[:5]}"
    stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": name}).raise_for_status()
    response = stack.api.post("/v1/reports", json={"channel": "hotline", "recruiter_names": [name],
                                                   "victims": {"count": 1, "minors": True}})
    assert response.status_code == 202
    return response.json()["id"]


def _sms_to(stack, number: str) -> list[dict]:
    return [m for m in stack.sinks.sms.messages if m["form"]["To"] == number]


def _alerts(stack, report_id: str, agency: str) -> list[dict]:
    return [a for a in stack.api.get(f"/v1/reports/{report_id}").json()["alerts"] if a["agency"] == agency]


def test_acknowledged_agency_is_not_escalated_the_other_is(stack):
    acked, silent = _agency(stack, phones=2), _agency(stack, phones=2)
    report_id = _urgent_report(stack)
    wait_for(lambda: _sms_to(stack, acked["phones"][0]) and _sms_to(stack, silent["phones"][0]), 30,
             what="first SMS to both agencies")
    alert = wait_for(lambda: [a for a in _alerts(stack, report_id, acked["code"]) if a["step"] == 0], 30,
                     what="the alert on the timeline")[0]
    officer = stack.client(stack.token("agency", acked["code"]))
    other_officer = stack.client(stack.token("agency", silent["code"]))
    assert other_officer.post(f"/v1/alerts/{alert['alert_id']}/ack").status_code == 404
    assert stack.client(stack.token("operator")).post(f"/v1/alerts/{alert['alert_id']}/ack").status_code == 403
    response = officer.post(f"/v1/alerts/{alert['alert_id']}/ack")
    assert response.status_code == 202 and response.json()["acknowledged"] >= 1
    assert all(a["status"] == "acknowledged" for a in _alerts(stack, report_id, acked["code"]))

    escalation = wait_for(lambda: _sms_to(stack, silent["phones"][1]), 30, what="escalation to the deputy")
    assert "ESKALASI 1" in escalation[0]["form"]["Body"]
    time.sleep(4)  # past another escalation period
    assert _sms_to(stack, acked["phones"][1]) == [], "an acknowledged alert does not escalate"
    assert len(_sms_to(stack, silent["phones"][1])) == 1, "one escalation per step"
    steps = {a["step"] for a in _alerts(stack, report_id, silent["code"])}
    assert steps == {0, 1}, "the ladder ends at the agency's last number"
    mine = officer.get("/v1/alerts").json()
    assert mine and {a["agency"] for a in mine} == {acked["code"]}


def test_sms_reply_ok_code_acknowledges_when_signed(stack):
    agency = _agency(stack, phones=2)
    report_id = _urgent_report(stack)
    sms = wait_for(lambda: _sms_to(stack, agency["phones"][0]), 30, what="the SMS")[0]
    alert = wait_for(lambda: [a for a in _alerts(stack, report_id, agency["code"]) if a["step"] == 0], 30,
                     what="the alert on the timeline")[0]
    code = ack_code(alert["alert_id"])
    assert f"OK {code}" in sms["form"]["Body"]
    url = f"{stack.base_url}/v1/webhooks/twilio/inbound"
    validator = RequestValidator(stack.sinks.sms.auth_token)

    def reply(sender: str, body: str, signature: str | None = None):
        params = {"From": sender, "Body": body, "MessageSid": "SM" + uuid.uuid4().hex}
        sig = signature or validator.compute_signature(url, params)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": sig})

    assert reply(agency["phones"][0], f"OK {code}", signature="forged").status_code == 403
    assert reply("+6289999999999", f"OK {code}").status_code == 200  # not the agency's number
    assert all(a["status"] != "acknowledged" for a in _alerts(stack, report_id, agency["code"]))
    answer = reply(agency["phones"][0], f"ok {code.lower()}")
    assert answer.status_code == 200 and "dikonfirmasi" in answer.text
    assert all(a["status"] == "acknowledged" for a in _alerts(stack, report_id, agency["code"]))
    time.sleep(4)
    assert _sms_to(stack, agency["phones"][1]) == []


def test_failed_alerts_are_listed_for_admins(stack):
    agency = _agency(stack, phones=1)
    stack.sinks.sms.fail_next(1, 400, 21610, to=agency["phones"][0])  # recipient unsubscribed
    report_id = _urgent_report(stack)
    failed = wait_for(lambda: [a for a in stack.api.get("/v1/alerts", params={"status": "failed"}).json()
                               if a["report_id"] == report_id], 30, what="the failed alert in GET /v1/alerts")
    assert failed[0]["agency"] == agency["code"] and "21610" in failed[0]["detail"]
    assert stack.client(stack.token("operator")).get("/v1/alerts").status_code == 403


def test_alert_made_urgent_by_a_later_match_escalates(stack):
    """The report arrives first (minors, no listed recruiter yet: not urgent); the recruiter is
    listed a moment later and re-screening makes the same alert urgent: its timer starts then."""
    agency = _agency(stack, phones=2)
    name = f"Calo Anak {uuid.uuid4().hex[:5]}"
    report_id = stack.api.post("/v1/reports", json={"channel": "hotline", "recruiter_names": [name],
                                                    "victims": {"count": 1, "minors": True}}).json()["id"]
    first = wait_for(lambda: [a for a in _alerts(stack, report_id, agency["code"]) if a["step"] == 0], 30,
                     what="the first alert")
    assert stack.api.get(f"/v1/reports/{report_id}").json()["risk_level"] not in ("high", "urgent")
    stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": name}).raise_for_status()
    wait_for(lambda: stack.api.get(f"/v1/reports/{report_id}").json()["risk_level"] in ("high", "urgent"), 30,
             what="the re-screening match")
    escalation = wait_for(lambda: _sms_to(stack, agency["phones"][1]), 30, what="escalation to the deputy")
    assert "ESKALASI 1" in escalation[0]["form"]["Body"]
    assert len(_sms_to(stack, agency["phones"][0])) == 1 and first[0]["step"] == 0, "the first SMS is not repeated"
