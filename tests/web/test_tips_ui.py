"""In headless Chromium: an operator opens the tip queue (nav link), opens a WhatsApp tip
(sender masked, the form prefilled from its text), makes it a report and lands on the report's
timeline; another tip is dismissed with a reason and leaves the queue."""
from __future__ import annotations

import re
import uuid

from tests.harness import wait_for
from tests.test_tips_e2e import _inbound, _number
from tests.web.test_operator_ui import sign_in


def test_operator_turns_a_tip_into_a_report_and_dismisses_another(stack, new_page):
    sender, recruiter = _number(), _number("+62857")
    tag = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:6])  # letters: no digit reads as a number
    text = f"Ada lowongan ke Taiwan tanpa biaya, hubungi {recruiter} ({tag})"
    spam = f"Promo pulsa {uuid.uuid4().hex[:6]}"
    assert _inbound(stack, f"whatsapp:{sender}", text).status_code == 200
    assert _inbound(stack, _number("+62813"), spam).status_code == 200
    page = new_page()
    sign_in(page, stack, stack.token("operator"))
    page.wait_for_url(re.compile(r"/reports/new$"))
    page.get_by_role("link", name="Aduan SMS/WhatsApp").click()
    page.wait_for_url(re.compile(r"/tips$"))
    row = page.locator("tr[data-tip]", has_text=text[-8:])
    assert sender[:6] + "****" + sender[-3:] in row.inner_text()
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/tips/tip_\w+$"))
    assert sender[3:] not in page.content(), "the sender's number is never on the page"
    assert page.get_by_label(re.compile("Nomor telepon / WhatsApp perekrut")).input_value() == recruiter
    assert page.get_by_label("Teks iklan / keterangan").input_value() == text
    page.get_by_label("Kecamatan", exact=True).select_option("Kroya")
    page.get_by_role("button", name="Jadikan laporan").click()
    page.wait_for_url(re.compile(r"/reports/rpt_\w+$"))
    report_id = page.locator("#tracking-id").inner_text()
    view = stack.api.get(f"/v1/reports/{report_id}").json()
    assert view["channel"] == "whatsapp" and view["content"]["phones"] == [recruiter]

    page.goto(f"{stack.base_url}/tips")
    page.locator("tr[data-tip]", has_text=spam).get_by_role("link").click()
    page.get_by_label("Alasan").fill("iklan pulsa")
    page.get_by_role("button", name="Abaikan").click()
    page.wait_for_url(re.compile(r"/tips$"))
    assert page.locator("tr[data-tip]", has_text=spam).count() == 0
    assert page.locator("tr[data-tip]", has_text=text[-8:]).count() == 0
    dismissed = wait_for(lambda: [t for t in stack.api.get("/v1/tips", params={"status": "dismissed"}).json()["tips"]
                                  if t["body"] == spam], 5, what="the dismissed tip")
    assert dismissed[0]["reason"] == "iklan pulsa"
