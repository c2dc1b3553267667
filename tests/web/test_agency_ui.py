"""In headless Chromium: an agency officer opens the link from the SMS, signs in, sees what
the agency needs to know (no reporter, no victim details), and acknowledges."""
from __future__ import annotations

import re
import uuid

from tests.harness import wait_for
from tests.web.test_operator_ui import sign_in


def test_officer_opens_the_sms_link_and_acknowledges(stack, new_page):
    code = f"ui-ag-{uuid.uuid4().hex[:6]}"
    phone = f"+62811{uuid.uuid4().int % 10**7:07d}"
    stack.api.post("/v1/agencies", json={"name": "Kantor Imigrasi Cilacap", "code": code, "emails": [],
                                         "phones": [phone], "receives": ["visa_misuse"]}).raise_for_status()
    report = stack.api.post("/v1/reports", json={
        "channel": "whatsapp", "ad_text": "Kerja di Dubai pakai visa turis dulu, nanti diurus izin kerjanya",
        "reporter": {"name": "Ratna Sari Dewi"}, "location": {"kecamatan": "Kroya", "desa": "Pesanggrahan"}}).json()
    sms = wait_for(lambda: [m for m in stack.sinks.sms.messages if m["form"]["To"] == phone], 30, what="the SMS")[0]
    link = re.search(r"(https?://\S+/alerts/al_\w+)", sms["form"]["Body"]).group(1)

    page = new_page({"width": 390, "height": 844})
    page.goto(link)
    page.wait_for_url(re.compile(r"/login\?next=/alerts/"))
    sign_in_token = stack.token("agency", code)
    page.get_by_label(re.compile("Token")).fill(sign_in_token)
    page.get_by_role("button", name=re.compile("Masuk")).click()
    page.wait_for_url(re.compile(r"/alerts/al_\w+$"))
    content = page.locator("main").inner_text()
    assert "visa" in content.lower()
    assert "Ratna" not in content and "Pesanggrahan" not in content
    page.get_by_role("button", name="Konfirmasi diterima").click()
    page.locator("#ack [role=status]").wait_for()
    alerts = stack.api.get(f"/v1/reports/{report['id']}").json()["alerts"]
    assert [a["status"] for a in alerts if a["agency"] == code] == ["acknowledged"]


def test_officer_cannot_open_another_agencys_alert(stack, new_page):
    mine, theirs = f"ui-a-{uuid.uuid4().hex[:5]}", f"ui-b-{uuid.uuid4().hex[:5]}"
    for code in (mine, theirs):
        stack.api.post("/v1/agencies", json={"name": code, "code": code, "emails": [], "receives": ["visa_misuse"],
                                             "phones": [f"+62811{uuid.uuid4().int % 10**7:07d}"]}).raise_for_status()
    report = stack.api.post("/v1/reports", json={"channel": "web", "ad_text": "visa ziarah untuk kerja"}).json()
    alert = wait_for(lambda: [a for a in stack.api.get(f"/v1/reports/{report['id']}").json()["alerts"]
                              if a["agency"] == theirs], 30, what="the other agency's alert")[0]
    page = new_page()
    sign_in(page, stack, stack.token("agency", mine))
    response = page.goto(f"{stack.base_url}/alerts/{alert['alert_id']}")
    assert response.status == 404
