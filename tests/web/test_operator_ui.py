"""In headless Chromium: an operator signs in, submits a report naming a watchlisted agency
through the form, and sees the match and the alerts appear on the live timeline."""
from __future__ import annotations

import re
import uuid



def _agency_and_entry(stack):
    code = f"ui-{uuid.uuid4().hex[:6]}"
    stack.api.post("/v1/agencies", json={"name": "Polresta Cilacap", "code": code, "emails": [f"{code}@polri.example"],
                                         "phones": ["+6281100000099"], "receives": ["watchlist_match"]}).raise_for_status()
    name = f"PT Maju Terus {uuid.uuid4().hex[:4].upper()}"
    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": name})
    entry.raise_for_status()
    return code, entry.json()


def sign_in(page, stack, token: str) -> None:
    page.goto(f"{stack.base_url}/login")
    page.get_by_label(re.compile("Token")).fill(token)
    page.get_by_role("button", name=re.compile("Masuk|Sign in")).click()


def test_operator_submits_report_and_watches_the_timeline(stack, new_page):
    code, entry = _agency_and_entry(stack)
    operator_token = stack.token("operator")
    page = new_page()
    sign_in(page, stack, operator_token)
    page.wait_for_url(re.compile(r"/reports/new$"))

    # Every field has a label; the confidentiality note is there.
    assert "dirahasiakan" in page.locator("#confidential-note").inner_text()
    page.get_by_label("Saluran", exact=True).select_option("hotline")
    page.get_by_label("Nama agen / perusahaan 1", exact=True).fill(entry["name"])
    page.locator("fieldset[data-field=phones] button.add").click()  # repeatable fields
    page.get_by_label("Nomor telepon / WhatsApp perekrut 1", exact=True).fill("0812 0000 1111")
    page.get_by_label("Nomor telepon / WhatsApp perekrut 2", exact=True).fill("0812 0000 2222")
    page.get_by_label("Kecamatan", exact=True).select_option("Kroya")
    desa_options = page.locator("#desa option").all_inner_texts()
    assert "Mergawati" in desa_options and len(desa_options) > 5, "desa list follows the kecamatan"
    page.get_by_label("Desa / kelurahan").select_option("Mergawati")
    page.get_by_label("Ada anak").check()
    page.get_by_label("Nama pelapor").fill("Sri Wahyuni")
    page.get_by_role("button", name="Kirim laporan").click()

    page.wait_for_url(re.compile(r"/reports/rpt_\w+$"))
    report_id = page.locator("#tracking-id").inner_text()
    assert report_id.startswith("rpt_")
    # The timeline updates without reloading: the match and then the alerts appear.
    page.locator(f"li.match[data-entry='{entry['id']}']").wait_for(timeout=30000)
    page.locator(f"tr[data-agency='{code}'][data-channel='sms']").wait_for(timeout=30000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    view = stack.api.get(f"/v1/reports/{report_id}").json()
    assert view["content"]["phones"] == ["0812 0000 1111", "0812 0000 2222"]
    assert view["content"]["minors"] is True and view["content"]["kecamatan"] == "Kroya"


def test_form_errors_are_shown_next_to_the_field(stack, new_page):
    page = new_page({"width": 390, "height": 844})  # a phone screen
    sign_in(page, stack, stack.token("operator"))
    page.wait_for_url(re.compile(r"/reports/new$"))
    page.get_by_label("Nomor telepon / WhatsApp perekrut 1", exact=True).fill("bukan nomor")
    page.get_by_role("button", name="Kirim laporan").click()
    assert page.locator("#channel-error").is_visible()
    assert page.locator("#phones-error").is_visible()
    assert page.get_by_label("Nomor telepon / WhatsApp perekrut 1", exact=True).input_value() == "bukan nomor"


def test_sign_in_refuses_a_wrong_token_and_pages_need_sign_in(stack, new_page):
    page = new_page()
    page.goto(f"{stack.base_url}/reports/new")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label(re.compile("Token")).fill("wsp_not-a-token")
    page.get_by_role("button", name=re.compile("Masuk")).click()
    assert "Token tidak dikenal" in page.locator("[role=alert]").inner_text()
    cookies = page.context.cookies()
    assert not any(c["name"] == "waspada_session" for c in cookies)
