"""In headless Chromium: an admin imports a watchlist CSV with one bad row and sees that row's
error (and nothing imported), fixes it and imports; edits and retires an entry; adds a routing
rule; and finds the change in the audit log. The same pages in English."""
from __future__ import annotations

import re
import uuid

from urllib.parse import quote


def sign_in(page, stack, token: str, target: str) -> None:
    page.goto(f"{stack.base_url}/login?next={quote(target)}")
    page.get_by_label(re.compile("Token")).fill(token)
    page.get_by_role("button", name=re.compile("Masuk|Sign in")).click()
    page.wait_for_url(re.compile(re.escape(target.split("?")[0])))

HEADER = "id,kind,name,aliases,phones,license_numbers,notes\n"


def test_admin_imports_csv_with_a_bad_row_and_sees_its_error(stack, new_page, tmp_path):
    tag = uuid.uuid4().hex[:6]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"ui-{tag}-1,agency,PT Sentosa Abadi {tag},,0812-1111-2222,,\n"
                            f"ui-{tag}-2,perusahaan,PT Salah Jenis {tag},,,,\n"
                            f"ui-{tag}-3,person,Suparman {tag},Pak Parman,,,\n")
    page = new_page()
    sign_in(page, stack, stack.admin_token, "/admin/watchlist-import")
    page.get_by_label("Berkas CSV").set_input_files(str(bad))
    page.get_by_role("button", name="Impor").click()
    errors = page.locator("#import-errors tr.import-error")
    errors.first.wait_for()
    assert errors.count() == 1
    cells = errors.first.locator("td").all_inner_texts()
    assert cells[0] == "3" and cells[1] == "kind"
    assert "Impor ditolak" in page.locator("#import-errors").inner_text()
    assert stack.api.get(f"/v1/watchlist/entries/ui-{tag}-1").status_code == 404, "nothing imported"

    good = tmp_path / "good.csv"
    good.write_text(bad.read_text().replace("perusahaan", "agency"))
    page.get_by_label("Berkas CSV").set_input_files(str(good))
    page.get_by_role("button", name="Impor").click()
    page.get_by_role("status").wait_for()
    assert "3" in page.get_by_role("status").inner_text()
    assert stack.api.get(f"/v1/watchlist/entries/ui-{tag}-3").json()["aliases"] == ["Pak Parman"]

    # Search, open, edit and retire the entry.
    page.goto(f"{stack.base_url}/admin/watchlist?q={tag}")
    page.get_by_role("link", name=f"ui-{tag}-1").click()
    page.get_by_label("Alasan").fill("Izin P3MI dicabut Kemnaker")
    page.get_by_label("Tinjau ulang sebelum").fill("2027-03-31")
    page.get_by_label("Status").select_option("retired")
    page.get_by_role("button", name="Simpan").click()
    page.get_by_role("status").wait_for()
    entry = stack.api.get(f"/v1/watchlist/entries/ui-{tag}-1").json()
    assert entry["status"] == "retired" and entry["review_by"] == "2027-03-31"
    assert entry["reason"] == "Izin P3MI dicabut Kemnaker" and entry["phones"] == ["0812-1111-2222"]

    # A bad edit names the field and changes nothing.
    page.get_by_label(re.compile("^Nomor telepon")).fill("bukan nomor")
    page.get_by_role("button", name="Simpan").click()
    assert page.locator("#phones-error").is_visible()
    assert stack.api.get(f"/v1/watchlist/entries/ui-{tag}-1").json()["phones"] == ["0812-1111-2222"]

    # The audit log shows who changed what.
    page.goto(f"{stack.base_url}/admin/audit?action=watchlist.update")
    assert f"ui-{tag}-1" in page.locator("table.audit").inner_text()


def test_admin_manages_routes_and_sees_failed_alerts_in_english(stack, new_page):
    code = f"ui-rt-{uuid.uuid4().hex[:5]}"
    page = new_page({"width": 390, "height": 844})
    sign_in(page, stack, stack.admin_token, "/admin/agencies?lang=en")
    page.get_by_label("Code").fill(code)
    page.get_by_label("Name").fill("Dinsos PPPA Cilacap")
    page.get_by_label(re.compile("^Email")).fill(f"{code}@dinsos.example")
    page.get_by_label(re.compile("^Receives")).fill("minor")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name=code, exact=True).wait_for()

    page.goto(f"{stack.base_url}/admin/routes")
    page.get_by_label("Agency").select_option(code)
    page.get_by_label(re.compile("^Categories")).fill("minor, high_risk")
    page.get_by_label("sms").uncheck()
    page.get_by_label(re.compile("^Unmatched feed ads")).select_option("urgent")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name=f"Remove {code}").wait_for()
    routes = [r for r in stack.api.get("/v1/routes").json() if r["agency_code"] == code]
    assert len(routes) == 1 and routes[0]["categories"] == ["minor", "high_risk"] and routes[0]["channels"] == ["email"]
    assert routes[0]["feed_min_risk"] == "urgent"
    page.get_by_role("button", name=f"Remove {code}").click()
    page.wait_for_load_state()
    assert not [r for r in stack.api.get("/v1/routes").json() if r["agency_code"] == code]

    page.goto(f"{stack.base_url}/admin/failed")
    assert page.get_by_role("heading", name="Failed alerts").is_visible()
    page.goto(f"{stack.base_url}/admin")
    assert page.get_by_role("link", name=re.compile("Audit log")).is_visible()


def test_only_admins_open_admin_pages(stack, new_page):
    page = new_page()
    sign_in(page, stack, stack.token("operator"), "/reports/new")
    response = page.goto(f"{stack.base_url}/admin/watchlist")
    assert response.status == 403


def test_admin_confirms_a_possible_match_from_the_review_page(stack, new_page):
    """A report naming part of a listed firm waits on /admin/reviews with its evidence and the
    features of its score; one click confirms it, and the queue no longer shows it."""
    tag = uuid.uuid4().hex[:4]
    first = "".join("bdgkmprst"[int(c, 16) % 9] + "aiou"[int(c, 16) % 4] for c in uuid.uuid4().hex[:4]).capitalize()
    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": f"PT {first} Wiyogo{tag}",
                                                          "source": "test"}).json()
    operator = stack.client(stack.token("operator"))
    probe = operator.post("/v1/reports", json={"channel": "web", "agency_names": [entry["name"]]}).json()
    from tests.harness import wait_for
    wait_for(lambda: operator.get(f"/v1/reports/{probe['id']}").json()["matches"], 60, what="the entry indexed")
    report = operator.post("/v1/reports", json={"channel": "web", "agency_names": [first]}).json()
    wait_for(lambda: any(r["report_id"] == report["id"] for r in stack.api.get("/v1/reviews").json()["reviews"]),
             30, what="the possible match")

    page = new_page()
    sign_in(page, stack, stack.admin_token, "/admin/reviews")
    card = page.locator(f"section.review[data-report='{report['id']}']")
    card.wait_for()
    assert first in card.inner_text() and "name_words" in card.inner_text()
    card.get_by_label("Alasan").fill("nomor sama dengan laporan polisi")
    card.get_by_role("button", name="Benar, kirim peringatan").click()
    page.wait_for_url(re.compile("/admin/reviews$"))
    assert page.locator(f"section.review[data-report='{report['id']}']").count() == 0
    review = [r for r in stack.api.get("/v1/reviews", params={"status": "confirmed"}).json()["reviews"]
              if r["report_id"] == report["id"]]
    assert review and review[0]["reason"] == "nomor sama dengan laporan polisi"


def test_admin_sees_each_feeds_counts(stack, new_page):
    source = f"ui-feed-{uuid.uuid4().hex[:6]}"
    lines = [f'{{"url": "https://loker.example/{source}/{i}", "title": "Lowongan {i} {source}"}}' for i in range(3)]
    body = "\n".join(lines + [lines[0], "{oops"]).encode()
    posted = stack.api.post(f"/v1/feeds/{source}/ads", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert posted.status_code == 202, posted.text
    page = new_page()
    sign_in(page, stack, stack.admin_token, "/admin?lang=en")
    page.get_by_role("link", name="Job-ad feeds").click()
    row = page.get_by_role("row", name=re.compile(source))
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == ["5", "3", "1", "1"]  # lines, new ads, duplicates, rejected
