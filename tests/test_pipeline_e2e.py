"""A report travels ingest -> reports.v1 -> matcher -> matches.v1 -> notifier and arrives as an
email at a real SMTP server and as an SMS at a Twilio-compatible server, and the report's
timeline shows it. Runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import uuid

from tests.harness import wait_for


def _unique_agency(stack, receives=("watchlist_match",)):
    code = f"polres-{uuid.uuid4().hex[:6]}"
    response = stack.api.post("/v1/agencies", json={
        "name": "Polresta Cilacap (PPA)", "code": code, "emails": [f"{code}@polri.example"],
        "phones": ["+6281100000001"], "receives": list(receives)})
    assert response.status_code == 201, response.text
    return code


def test_report_naming_a_watchlisted_agency_alerts_by_email_and_sms(stack):
    sinks = stack.sinks
    agency = _unique_agency(stack)
    entry = stack.api.post("/v1/watchlist/entries", json={
        "kind": "agency", "name": f"PT Cahaya Samudra {uuid.uuid4().hex[:4]}", "aliases": [],
        "phones": ["0813-2222-3333"], "source": "test"})
    assert entry.status_code == 201, entry.text
    entry = entry.json()
    operator = stack.client(stack.token("operator"))

    # The watchlist change reaches the matcher through watchlist.v1; wait until a probe report matches.
    reporter_name, reporter_phone = "Siti Nurhaliza Rahmawati", "+62 819 7777 6666"
    mails_before, sms_before = len(sinks.mail.messages), len(sinks.sms.messages)
    response = operator.post("/v1/reports", json={
        "channel": "hotline", "agency_names": [entry["name"]], "phones": ["+62 813 2222 3333"],
        "ad_text": "Lowongan kerja ke luar negeri, proses cepat.", "location": {"kecamatan": "Kroya", "desa": "Mergawati"},
        "victims": {"count": 2, "minors": False}, "reporter": {"name": reporter_name, "phone": reporter_phone}})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"].endswith(f"/v1/reports/{accepted['id']}")

    def our_mail():
        return [m for m in sinks.mail.messages[mails_before:] if f"{agency}@polri.example" in m["rcpt_tos"]]

    def our_sms():
        return [m for m in sinks.sms.messages[sms_before:] if m["form"]["To"] == "+6281100000001"]

    mails = wait_for(our_mail, 60, what="the email alert")
    sms = wait_for(our_sms, 60, what="the SMS alert")
    assert len(mails) == 1
    form = sms[0]["form"]
    # Form fields as Twilio's Messages API receives them from the real SDK.
    assert form["From"] == "+15005550006" and form["To"] == "+6281100000001"
    assert form["StatusCallback"].endswith("/v1/webhooks/twilio/status")
    assert "RPT-" in form["Body"] and stack.base_url in form["Body"]
    for secret in (reporter_name, "Siti", "7777", "Mergawati"):
        assert secret not in form["Body"]
        assert secret not in mails[0]["subject"]
        assert secret not in mails[0]["body"]
    assert entry["name"] in mails[0]["body"]  # the suspect, not the victim, is named

    def timeline():
        view = operator.get(f"/v1/reports/{accepted['id']}").json()
        statuses = {(a["agency"], a["channel"]): a["status"] for a in view["alerts"]}
        done = statuses.get((agency, "email")) == "sent" and statuses.get((agency, "sms")) == "delivered"
        return view if done else None

    view = wait_for(timeline, 30, what="the timeline to show sent email and delivered SMS")
    assert view["screened_at"] is not None
    assert [m["entry_id"] for m in view["matches"]] == [entry["id"]]
    assert view["matches"][0]["evidence"], "a match carries its evidence"
    assert [e["event"] for e in view["timeline"]][:2] == ["received", "screened"]
    assert "reporter" not in view and "Mergawati" not in str(view)


def test_watchlist_change_reaches_matcher_and_retro_screens_earlier_reports(stack):
    agency = _unique_agency(stack)
    operator = stack.client(stack.token("operator"))
    name = f"Yayasan Bintang Timur {uuid.uuid4().hex[:4]}"
    first = operator.post("/v1/reports", json={"channel": "web", "agency_names": [name]}).json()
    wait_for(lambda: operator.get(f"/v1/reports/{first['id']}").json()["screened_at"], 30, what="screening")
    assert operator.get(f"/v1/reports/{first['id']}").json()["matches"] == []

    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": name}).json()

    def retro_match():
        return operator.get(f"/v1/reports/{first['id']}").json()["matches"]

    matches = wait_for(retro_match, 30, what="the retro-screening match")
    assert matches[0]["entry_id"] == entry["id"] and matches[0]["retro"] is True
    wait_for(lambda: any(a["agency"] == agency for a in operator.get(f"/v1/reports/{first['id']}").json()["alerts"]),
             30, what="an alert from the retro-screening match")


def test_healthz_reports_every_part(stack):
    body = stack.api.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"] == {"api": True, "database": True, "broker": True, "matcher": True, "notifier": True}
