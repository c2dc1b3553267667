"""Watchlist lifecycle through the admin API: CSV import (validated whole, all or nothing) and
export (exact round trip), retire, disputes, and reviewers' false-positive suppression, with the
matcher's behaviour checked through real reports."""
from __future__ import annotations

import csv
import io
import uuid

from tests.harness import wait_for


def _csv(rows: list[dict]) -> str:
    columns = ["id", "kind", "name", "aliases", "phones", "license_numbers", "notes", "social_handles", "urls",
               "source", "reason", "status", "reviewer", "review_by"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue()


def _import(stack, text: str):
    return stack.api.post("/v1/watchlist/import", content=text.encode(), headers={"Content-Type": "text/csv"})


def test_import_with_bad_rows_writes_nothing_and_names_each_line(stack):
    tag = uuid.uuid4().hex[:6]
    text = _csv([
        {"id": f"imp-{tag}-1", "kind": "agency", "name": "PT Baik Sekali"},
        {"id": f"imp-{tag}-2", "kind": "company", "name": "PT Salah Jenis"},
        {"id": f"imp-{tag}-3", "kind": "person", "name": "Budi", "phones": "0812-3456-7890;not a phone"},
        {"id": f"imp-{tag}-4", "kind": "person", "name": "Siti", "review_by": "31/12/2027"},
    ])
    response = _import(stack, text)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {(e["line"], e["column"]) for e in errors} == {(3, "kind"), (4, "phones"), (5, "review_by")}
    assert stack.api.get(f"/v1/watchlist/entries/imp-{tag}-1").status_code == 404, "all or nothing"
    bad_header = _import(stack, "id,kind,name\nx,agency,PT X\n")
    assert bad_header.status_code == 422 and bad_header.json()["errors"][0]["line"] == 1


def test_import_then_export_round_trips_exactly(stack):
    tag = uuid.uuid4().hex[:6]
    rows = [
        {"id": f"rt-{tag}-a", "kind": "agency", "name": "PT Formula =Jaya", "aliases": "=HYPERLINK(\"x\");@SUM(1)",
         "phones": "+6281234500001;0812-3450-0002", "license_numbers": "KEP.123/2020", "notes": "-catatan; bukan rumus",
         "source": "LP/B/123/XI/2026/Polresta", "reason": "perekrutan ilegal", "status": "active",
         "reviewer": "Kasat Reskrim", "review_by": "2027-06-30", "urls": "https://loker-luar.example/apply",
         "social_handles": "@lokerjaya"},
        {"id": f"rt-{tag}-b", "kind": "person", "name": "Bambang \"Mas Bams\" Sutrisno", "notes": "baris\nkedua",
         "status": "retired", "reason": "putusan bebas"},
    ]
    first = _import(stack, _csv(rows))
    assert first.status_code == 200, first.text
    assert first.json() == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0}
    exported = stack.api.get("/v1/watchlist/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    ours = [line for line in _records(exported.text) if line[0].startswith(f"rt-{tag}")]
    # Formula-looking cells are neutralised in the file; the phone number stays a number.
    assert ours[0][3].startswith("'=HYPERLINK") and "'@SUM(1)" in ours[0][3]
    assert ours[0][4] == "+6281234500001;0812-3450-0002"
    assert ours[0][6] == "'-catatan; bukan rumus"
    # Importing the export changes nothing, and exporting again gives the same bytes.
    again = _import(stack, exported.text)
    assert again.status_code == 200 and again.json()["created"] == 0 and again.json()["updated"] == 0
    assert stack.api.get("/v1/watchlist/export").text == exported.text
    entry = stack.api.get(f"/v1/watchlist/entries/rt-{tag}-a").json()
    assert entry["aliases"] == ['=HYPERLINK("x")', "@SUM(1)"] and entry["notes"] == "-catatan; bukan rumus"
    assert entry["review_by"] == "2027-06-30" and entry["reviewer"] == "Kasat Reskrim"


def _records(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))[1:]


def _screened(operator, body: dict, timeout_s: float = 40) -> dict:
    """Submit a report and return its view once it is screened."""
    report_id = operator.post("/v1/reports", json=body).json()["id"]
    return wait_for(lambda: (v := operator.get(f"/v1/reports/{report_id}").json())["screened_at"] and v,
                    timeout_s, what="screening")


def _matches(view: dict, entry_id: str) -> bool:
    return entry_id in {m["entry_id"] for m in view["matches"]}


def _report_matches(stack, operator, body: dict, entry_id: str, expect: bool) -> dict:
    """Submit a report and wait until it is screened; assert whether entry_id matched."""
    view = _screened(operator, body)
    assert _matches(view, entry_id) == expect, view["matches"]
    return view


def _wait_until_matcher_sees(stack, operator, body, entry_id, expect: bool):
    """Watchlist changes reach the matcher through Kafka; probe until the change is applied."""
    wait_for(lambda: _matches(_screened(operator, body, 30), entry_id) == expect, 60, interval_s=0.5,
             what=f"matcher to see {entry_id} {'listed' if expect else 'not listed'}")


def test_retire_and_dispute(stack):
    tag = uuid.uuid4().hex[:6]
    operator = stack.client(stack.token("operator"))
    entry_id = f"life-{tag}"
    name = f"PT Lintas Benua Sentosa {tag}"
    assert stack.api.post("/v1/watchlist/entries", json={
        "id": entry_id, "kind": "agency", "name": name, "source": "Putusan PN Cilacap 12/Pid.Sus/2026",
        "reason": "menempatkan PMI tanpa izin", "reviewer": "Admin TPPO", "review_by": "2027-01-31"}).status_code == 201
    report = {"channel": "web", "agency_names": [name]}
    _wait_until_matcher_sees(stack, operator, report, entry_id, True)

    # Retire: kept for the record, no longer screened.
    retired = stack.api.patch(f"/v1/watchlist/entries/{entry_id}", json={"status": "retired", "reason": "izin terbit"})
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    _wait_until_matcher_sees(stack, operator, report, entry_id, False)
    assert entry_id in {e["id"] for e in stack.api.get("/v1/watchlist/entries",
                                                        params={"status": "retired", "q": tag}).json()["entries"]}

    # Re-activate, then a dispute: rejected leaves it listed, upheld retires it.
    assert stack.api.patch(f"/v1/watchlist/entries/{entry_id}", json={"status": "active"}).status_code == 200
    first = stack.api.post(f"/v1/watchlist/entries/{entry_id}/disputes",
                           json={"claimant": "Kuasa hukum PT", "claim": "Izin P3MI kami sah"}).json()
    assert first["status"] == "open"
    rejected = stack.api.post(f"/v1/watchlist/disputes/{first['id']}/resolve",
                              json={"outcome": "rejected", "resolution": "Izin dicabut 2025"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert stack.api.post(f"/v1/watchlist/disputes/{first['id']}/resolve",
                          json={"outcome": "upheld", "resolution": "x"}).status_code == 409
    assert stack.api.get(f"/v1/watchlist/entries/{entry_id}").json()["status"] == "active"
    second = stack.api.post(f"/v1/watchlist/entries/{entry_id}/disputes",
                            json={"claimant": "Kuasa hukum PT", "claim": "Salah orang"}).json()
    upheld = stack.api.post(f"/v1/watchlist/disputes/{second['id']}/resolve",
                            json={"outcome": "upheld", "resolution": "Nama mirip, perusahaan lain"})
    assert upheld.status_code == 200
    assert stack.api.get(f"/v1/watchlist/entries/{entry_id}").json()["status"] == "retired"
    disputes = stack.api.get("/v1/watchlist/disputes", params={"entry_id": entry_id}).json()
    assert {d["status"] for d in disputes} == {"rejected", "upheld"}
    actions = [r["action"] for r in stack.api.get("/v1/audit", params={"target_id": entry_id}).json()["records"]]
    assert actions.count("watchlist.update") == 2 and "watchlist.retire" in actions and "watchlist.create" in actions
    operator.close()


def test_false_positive_is_suppressed_in_future_screening(stack):
    tag = uuid.uuid4().hex[:6]
    operator = stack.client(stack.token("operator"))
    entry_id = f"fp-{tag}"
    listed_phone = f"+62813{int(tag, 16) % 10**8:08d}"
    assert stack.api.post("/v1/watchlist/entries", json={
        "id": entry_id, "kind": "person", "name": f"Joko Susilo {tag}", "phones": [listed_phone]}).status_code == 201
    report = {"channel": "hotline", "recruiter_names": [f"Joko Susilo {tag}"]}
    _wait_until_matcher_sees(stack, operator, report, entry_id, True)
    view = _report_matches(stack, operator, report, entry_id, True)

    response = stack.api.post(f"/v1/reports/{view['id']}/matches/{entry_id}/false-positive",
                              json={"reason": "Orang lain dengan nama sama, dicek Polresta"})
    assert response.status_code == 200 and response.json()["suppressed_values"] == [f"Joko Susilo {tag}"]
    assert any(m["false_positive"] for m in stack.api.get(f"/v1/reports/{view['id']}").json()["matches"])
    # The same name (any spelling of case and spacing) no longer matches that entry ...
    _report_matches(stack, operator, {"channel": "hotline", "recruiter_names": [f"JOKO  SUSILO {tag}"]}, entry_id, False)
    # ... but the entry still matches on other evidence.
    _report_matches(stack, operator, {"channel": "hotline", "phones": [listed_phone]}, entry_id, True)
    audit = stack.api.get("/v1/audit", params={"action": "match.false_positive"}).json()["records"]
    assert any(r["target_id"] == f"{view['id']}/{entry_id}" and r["after"]["reason"].startswith("Orang lain")
               for r in audit)
    missing = stack.api.post(f"/v1/reports/{view['id']}/matches/no-such-entry/false-positive", json={"reason": "x"})
    assert missing.status_code == 404
    operator.close()
