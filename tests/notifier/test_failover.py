"""Failover and broken contacts: an SMS reported undelivered is sent by email too; a number a
provider refuses permanently is marked broken, shown to admins, and not used again."""
from __future__ import annotations

import time
import uuid

from tests.harness import wait_for


def _agency(stack, sms_only: bool) -> dict:
    code = f"fo-{uuid.uuid4().hex[:6]}"
    body = {"name": code, "code": code, "emails": [f"{code}@x.example"], "receives": ["watchlist_match"],
            "phones": [f"+62811{uuid.uuid4().int % 10**7:07d}"]}
    stack.api.post("/v1/agencies", json=body).raise_for_status()
    if sms_only:
        stack.api.post("/v1/routes", json={"agency_code": code, "categories": ["watchlist_match"],
                                           "channels": ["sms"]}).raise_for_status()
    return body


def _report(stack) -> str:
    name = f"PT Gagal Kirim {uuid.uuid4().hex[:5]}"
    stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": name}).raise_for_status()
    return stack.api.post("/v1/reports", json={"channel": "web", "agency_names": [name]}).json()["id"]


def test_undelivered_sms_fails_over_to_email(stack):
    agency = _agency(stack, sms_only=True)
    stack.sinks.sms.status_for[agency["phones"][0]] = "undelivered"
    report = _report(stack)
    wait_for(lambda: [m for m in stack.sinks.sms.messages if m["form"]["To"] == agency["phones"][0]], 30,
             what="the SMS")
    mail = wait_for(lambda: [m for m in stack.sinks.mail.messages if agency["emails"][0] in m["rcpt_tos"]], 30,
                    what="the failover email")
    assert report[4:12].upper() in mail[0]["subject"]

    def statuses():  # the timeline hears of sends through receipts, a moment after the mail lands
        alerts = {a["channel"]: a["status"] for a in stack.api.get(f"/v1/reports/{report}").json()["alerts"]
                  if a["agency"] == agency["code"]}
        return alerts if alerts.get("email") == "sent" else None

    alerts = wait_for(statuses, 30, what="the failover email recorded as sent")
    assert alerts["sms"] == "failed"


def test_permanently_refused_number_is_marked_broken_and_skipped(stack):
    agency = _agency(stack, sms_only=False)
    number = agency["phones"][0]
    stack.sinks.sms.fail_next(1, 400, 21211, to=number)
    _report(stack)
    broken = wait_for(lambda: stack.api.get(f"/v1/agencies/{agency['code']}/broken-contacts").json(), 30,
                      what="the broken contact")
    assert broken[0]["address"] == number and "21211" in broken[0]["reason"]
    second = _report(stack)
    wait_for(lambda: [m for m in stack.sinks.mail.messages
                      if agency["emails"][0] in m["rcpt_tos"] and second[4:12].upper() in m["subject"]], 30,
             what="the next report's email")
    time.sleep(1.0)
    assert [m for m in stack.sinks.sms.messages if m["form"]["To"] == number] == []
    channels = {a["channel"] for a in stack.api.get(f"/v1/reports/{second}").json()["alerts"]
                if a["agency"] == agency["code"]}
    assert channels == {"email"}, "the broken number is not tried again"
