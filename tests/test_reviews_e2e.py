"""Possible matches end to end: a report naming part of a listed firm is screened into the
review band; no agency hears of it; it waits in GET /v1/reviews with its evidence; a reviewer
confirms it and the agency's alert goes out through the normal route, or rejects it and the
value never matches that entry again. Both decisions are audited. SQLite and PostgreSQL."""
from __future__ import annotations

import time
import uuid

from tests.harness import wait_for


def _letters(n: int = 6) -> str:
    return "".join("bdgklmnprstv"[int(c, 16) % 12] + "aeiou"[int(c, 16) % 5] for c in uuid.uuid4().hex[:n // 2])


def _setup(stack):
    code = f"rev-{uuid.uuid4().hex[:6]}"
    agency = stack.api.post("/v1/agencies", json={"name": "Polresta Cilacap", "code": code,
                                                  "emails": [f"{code}@polri.example"], "receives": ["watchlist_match"]})
    assert agency.status_code == 201, agency.text
    first, second = _letters(8).capitalize(), _letters(8).capitalize()
    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": f"PT {first} {second}",
                                                          "source": "test"})
    assert entry.status_code == 201, entry.text
    return code, entry.json(), first


def _pending(stack, report_id):
    reviews = stack.api.get("/v1/reviews").json()["reviews"]
    return [r for r in reviews if r["report_id"] == report_id]


def test_a_possible_match_waits_for_a_reviewer_then_alerts_once_confirmed(stack):
    code, entry, part = _setup(stack)
    operator = stack.client(stack.token("operator"))

    def mails():
        return [m for m in stack.sinks.mail.messages if f"{code}@polri.example" in m["rcpt_tos"]]

    # the watchlist entry reaches the matcher first: a report with its whole name matches
    probe = operator.post("/v1/reports", json={"channel": "web", "agency_names": [entry["name"]]}).json()
    wait_for(lambda: mails(), 60, what="the probe's alert (the entry is indexed)")
    sent = len(mails())

    report = operator.post("/v1/reports", json={"channel": "hotline", "agency_names": [part]}).json()
    pending = wait_for(lambda: _pending(stack, report["id"]), 30, what="the possible match in the review queue")
    review = pending[0]
    assert review["entry_id"] == entry["id"] and 0.6 <= review["score"] < 0.8
    assert review["status"] == "pending" and review["report"]["channel"] == "hotline"
    names = [f["name"] for e in review["evidence"] for f in e["features"]]
    assert "name_words" in names  # the reviewer reads why the score is what it is
    view = operator.get(f"/v1/reports/{report['id']}").json()
    assert [(m["entry_id"], m["band"], m["review"]) for m in view["matches"]] == [(entry["id"], "review", "pending")]
    assert "watchlist_match" not in view["categories"]
    time.sleep(2)  # the notifier had every chance to route it
    assert len(mails()) == sent, "a possible match is never sent to an agency"

    decided = stack.api.post(f"/v1/reviews/{report['id']}/{entry['id']}", json={"decision": "confirm",
                                                                                 "reason": "alamat sama"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "confirmed"
    mail = wait_for(lambda: mails()[sent:], 60, what="the alert of the confirmed match")
    assert len(mail) == 1 and entry["name"] in mail[0]["body"]
    again = stack.api.post(f"/v1/reviews/{report['id']}/{entry['id']}", json={"decision": "reject", "reason": "x"})
    assert again.status_code == 409
    view = wait_for(lambda: (v := operator.get(f"/v1/reports/{report['id']}").json())["matches"][0]["band"] == "alert"
                    and v, 30, what="the timeline to show the confirmed match")
    assert "watchlist_match" in view["categories"]
    assert "review_confirmed" in [e["event"] for e in view["timeline"]]
    audit = stack.api.get("/v1/audit", params={"action": "review.confirm"}).json()
    assert any(r["target_id"] == f"{report['id']}/{entry['id']}" for r in audit["records"])
    assert _pending(stack, report["id"]) == []
    assert probe["id"] != report["id"]


def test_a_rejected_possible_match_never_comes_back(stack):
    code, entry, part = _setup(stack)
    operator = stack.client(stack.token("operator"))
    probe = operator.post("/v1/reports", json={"channel": "web", "agency_names": [entry["name"]]}).json()
    wait_for(lambda: operator.get(f"/v1/reports/{probe['id']}").json()["matches"], 60, what="the entry indexed")

    report = operator.post("/v1/reports", json={"channel": "web", "agency_names": [part]}).json()
    wait_for(lambda: _pending(stack, report["id"]), 30, what="the possible match")
    refused = stack.api.post(f"/v1/reviews/{report['id']}/{entry['id']}", json={"decision": "reject"})
    assert refused.status_code == 422 and "reason" in refused.text  # a rejection says why
    decided = stack.api.post(f"/v1/reviews/{report['id']}/{entry['id']}",
                             json={"decision": "reject", "reason": "perusahaan lain"})
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    rejected = stack.api.get("/v1/reviews", params={"status": "rejected"}).json()["reviews"]
    assert any(r["report_id"] == report["id"] for r in rejected)
    audit = stack.api.get("/v1/audit", params={"action": "review.reject"}).json()
    assert any(r["target_id"] == f"{report['id']}/{entry['id']}" for r in audit["records"])

    later = operator.post("/v1/reports", json={"channel": "web", "agency_names": [part]}).json()
    wait_for(lambda: operator.get(f"/v1/reports/{later['id']}").json()["screened_at"], 30, what="screening")
    assert operator.get(f"/v1/reports/{later['id']}").json()["matches"] == []
    assert _pending(stack, later["id"]) == []
    assert stack.api.post(f"/v1/reviews/{later['id']}/{entry['id']}", json={"decision": "confirm"}).status_code == 404
    assert stack.client(stack.token("operator")).get("/v1/reviews").status_code == 403
