"""Routing rules (admin API, stored in the database) decide who hears of what, by which channel,
for which risk and kecamatan; one report matching several entries is one alert per agency and
channel; a later re-screening alerts only agencies not told yet."""
from __future__ import annotations

import time
import uuid

from services.notifier.routing import plan
from shared.schemas import Agency, Route, ScreeningResult
from tests.harness import wait_for


def test_plan_groups_and_applies_rules_per_agency():
    police = Agency(code="polres", name="Polres", emails=["p@x.example"], phones=["+6281100000001"], receives=["minor"])
    labour = Agency(code="disnaker", name="Disnaker", emails=["d@x.example"], phones=["+6281100000002"], receives=[])
    result = ScreeningResult(report_id="rpt_1", screened_at="2026-01-01T00:00:00Z", risk_level="medium",
                             categories=["watchlist_match", "minor", "unlicensed_agency"], kecamatan="Kroya")
    rules = [Route(id="r1", agency_code="disnaker", categories=["unlicensed_agency"], min_risk="medium", channels=["sms"]),
             Route(id="r2", agency_code="disnaker", categories=["watchlist_match"], kecamatan="Majenang", channels=["email"])]
    planned = {(p.agency.code, p.channel.value) for p in plan(result, [police, labour], rules)}
    assert planned == {("polres", "email"), ("polres", "sms"), ("disnaker", "sms")}
    high_bar = [Route(id="r3", agency_code="disnaker", categories=["unlicensed_agency"], min_risk="high")]
    assert {p.agency.code for p in plan(result, [police, labour], high_bar)} == {"polres"}


def test_a_feed_ad_reaches_agencies_by_a_match_or_by_a_rule_naming_its_risk():
    police = Agency(code="polres", name="Polres", emails=["p@x.example"], receives=["watchlist_match", "fees"])
    labour = Agency(code="disnaker", name="Disnaker", emails=["d@x.example"], receives=[])
    feed_rule = Route(id="r1", agency_code="disnaker", categories=["fees", "documents"], feed_min_risk="high")
    plain_rule = Route(id="r2", agency_code="disnaker", categories=["fees"])

    def told(result, rules):
        return {p.agency.code for p in plan(result, [police, labour], rules)}

    flagged = dict(report_id="rpt_1", screened_at="2026-01-01T00:00:00Z", categories=["fees"])
    assert told(ScreeningResult(**flagged, risk_level="medium", channel="hotline"), [plain_rule]) == {"polres", "disnaker"}
    # the same red flag in a feed ad: nobody, unless a rule names a feed risk the ad reaches
    assert told(ScreeningResult(**flagged, risk_level="medium", channel="feed"), [plain_rule]) == set()
    assert told(ScreeningResult(**flagged, risk_level="medium", channel="feed"), [feed_rule]) == set()
    assert told(ScreeningResult(**flagged, risk_level="high", channel="feed"), [feed_rule]) == {"disnaker"}
    # a feed ad that matches a listed entry is routed like any report
    matched = ScreeningResult(report_id="rpt_2", screened_at="2026-01-01T00:00:00Z", risk_level="medium",
                              channel="feed", categories=["watchlist_match", "fees"])
    assert told(matched, [plain_rule]) == {"polres", "disnaker"}


def test_routes_api_and_delivery_follow_the_rules(stack):
    code = f"rt-{uuid.uuid4().hex[:6]}"
    email, phone = f"{code}@imigrasi.example", f"+62811{uuid.uuid4().int % 10**7:07d}"
    stack.api.post("/v1/agencies", json={"name": "Imigrasi", "code": code, "emails": [email], "phones": [phone],
                                         "receives": []}).raise_for_status()
    bad = stack.api.post("/v1/routes", json={"agency_code": "nobody", "categories": ["visa_misuse"]})
    assert bad.status_code == 422
    assert stack.api.post("/v1/routes", json={"agency_code": code, "categories": []}).status_code == 422
    route = stack.api.post("/v1/routes", json={"agency_code": code, "categories": ["visa_misuse"],
                                               "kecamatan": "Kroya", "channels": ["sms"]})
    assert route.status_code == 201, route.text
    assert route.json()["id"] in [r["id"] for r in stack.api.get("/v1/routes").json()]
    assert stack.client(stack.token("operator")).get("/v1/routes").status_code == 403

    ad = "Berangkat pakai visa turis dulu, proses cepat"
    elsewhere = stack.api.post("/v1/reports", json={"channel": "web", "ad_text": ad,
                                                    "location": {"kecamatan": "Majenang"}}).json()["id"]
    here = stack.api.post("/v1/reports", json={"channel": "web", "ad_text": ad,
                                               "location": {"kecamatan": "Kroya"}}).json()["id"]
    wait_for(lambda: [m for m in stack.sinks.sms.messages if m["form"]["To"] == phone], 30, what="the routed SMS")
    time.sleep(1.5)
    sms = [m for m in stack.sinks.sms.messages if m["form"]["To"] == phone]
    assert len(sms) == 1 and here[4:12].upper() in sms[0]["form"]["Body"]
    assert not [m for m in stack.sinks.mail.messages if email in m["rcpt_tos"]], "the rule says SMS only"
    assert not [a for a in stack.api.get(f"/v1/reports/{elsewhere}").json()["alerts"] if a["agency"] == code]
    assert stack.api.delete(f"/v1/routes/{route.json()['id']}").status_code == 204


def test_one_alert_per_agency_and_channel_and_retro_alerts_only_the_new(stack):
    first, second = (f"grp-{uuid.uuid4().hex[:6]}" for _ in range(2))
    stack.api.post("/v1/agencies", json={"name": "A", "code": first, "emails": [f"{first}@x.example"],
                                         "phones": [], "receives": ["watchlist_match"]}).raise_for_status()
    names = [f"PT Tiga Serangkai {uuid.uuid4().hex[:4]}" for _ in range(3)]
    for name in names:
        stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": name}).raise_for_status()
    phone = f"0813{uuid.uuid4().int % 10**8:08d}"
    report = stack.api.post("/v1/reports", json={"channel": "feed", "agency_names": names,
                                                 "phones": [phone]}).json()["id"]
    wait_for(lambda: len(stack.api.get(f"/v1/reports/{report}").json()["matches"]) == 3, 30, what="three matches")

    def emails_about(agency: str) -> list[dict]:
        return [m for m in stack.sinks.mail.messages
                if f"{agency}@x.example" in m["rcpt_tos"] and report[4:12].upper() in m["subject"]]

    wait_for(lambda: emails_about(first), 30, what="the grouped email")
    # A new agency, then a new entry with the report's phone: re-screening finds a new match for
    # the same report, which alerts the agency not told yet and nobody twice.
    stack.api.post("/v1/agencies", json={"name": "B", "code": second, "emails": [f"{second}@x.example"],
                                         "phones": [], "receives": ["watchlist_match"]}).raise_for_status()
    stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": f"Calo {uuid.uuid4().hex[:4]}",
                                                  "phones": [phone]}).raise_for_status()
    wait_for(lambda: len(stack.api.get(f"/v1/reports/{report}").json()["matches"]) == 4, 30, what="the retro match")
    wait_for(lambda: emails_about(second), 30, what="the new agency's email")
    time.sleep(1.5)
    assert len(emails_about(first)) == 1, "three matches and a re-screening: still one email"
    assert len(emails_about(second)) == 1
