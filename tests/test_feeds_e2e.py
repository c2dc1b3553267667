"""Bulk feeds end to end: NDJSON posted to /v1/feeds/{source}/ads and files through
`waspada feed import` become feed reports, screened like any; bad lines are named and cost
only themselves; the same ad seen again is counted on its report, never reported or alerted
again; an unmatched ad with red flags reaches only an agency whose rule names a feed risk.
SQLite and PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import time
import uuid

from shared.alert_refs import case_ref
from tests.harness import REPO, wait_for


def _phone() -> str:
    return f"0813{uuid.uuid4().int % 10**8:08d}"


def _setup(stack):
    """An agency told of watchlist matches (and, by its categories, of fees), and a listed
    recruiter's number, indexed by the matcher."""
    code = f"feed-{uuid.uuid4().hex[:6]}"
    stack.api.post("/v1/agencies", json={"name": "Polresta Cilacap", "code": code, "emails": [f"{code}@polri.example"],
                                         "receives": ["watchlist_match", "fees"]}).raise_for_status()
    phone = _phone()
    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "agency", "name": f"PT Feed {uuid.uuid4().hex[:6]}",
                                                          "phones": [phone], "source": "test"})
    entry.raise_for_status()
    probe = stack.api.post("/v1/reports", json={"channel": "web", "phones": [phone]}).json()
    wait_for(lambda: _mails(stack, code, probe["id"]), 60, what="the probe's alert (the listed number is indexed)")
    return code, phone, entry.json()


def _mails(stack, code, report_id=None):
    """The agency's emails (about that report): other tests' reports may alert it too."""
    return [m for m in stack.sinks.mail.messages if f"{code}@polri.example" in m["rcpt_tos"]
            and (report_id is None or case_ref(report_id) in m["subject"] + m["body"])]


def _post(client, source, lines):
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return client.post(f"/v1/feeds/{source}/ads", content=body.encode(), headers={"Content-Type": "application/x-ndjson"})


def _report_ids(stack, before: set[str], source: str) -> set[str]:
    """The reports of this feed made since `before`."""
    new = [r["id"] for r in stack.api.get("/v1/reports", params={"limit": 500}).json()["reports"]
           if r["channel"] == "feed" and r["id"] not in before]
    return {rid for rid in new if stack.api.get(f"/v1/reports/{rid}").json()["feed"]["source"] == source}


def test_a_feed_with_duplicates_and_bad_lines_names_each_bad_line_and_alerts_once(stack):
    code, phone, entry = _setup(stack)
    source = f"fb-loker-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:8]
    operator = stack.client(stack.token("operator"))
    before = {r["id"] for r in stack.api.get("/v1/reports", params={"limit": 500}).json()["reports"]}
    listed = {"url": f"https://www.facebook.com/groups/lokerjepang/posts/{tag}1?utm_source=share",
              "title": "Dicari pekerja pabrik Jepang",
              "description": f"Gaji 25 juta, berangkat cepat. Hubungi WA {phone} sekarang juga. Kode {tag}",
              "company": "LPK Sakura Mandiri", "posted_at": "2026-11-30"}
    jobposting = {"@context": "https://schema.org", "@type": "JobPosting", "title": f"Operator produksi Taiwan {tag}",
                  "description": "<p>Pabrik elektronik, kontrak 3 tahun.</p><p>Syarat: lulusan SMA, sehat.</p>",
                  "datePosted": "2026-12-01", "url": f"https://loker.example/jobs/{tag}2",
                  "hiringOrganization": {"@type": "Organization", "name": "PT Maju Jaya Abadi"},
                  "jobLocation": {"@type": "Place", "address": {"addressLocality": "Taichung", "addressCountry": "TW"}}}
    lines = [
        listed,                                                                   # 1 new, matches the listed number
        jobposting,                                                               # 2 new (a JobPosting object)
        dict(listed, url=f"https://m.facebook.com/groups/lokerjepang/posts/{tag}1/?fbclid=x"),  # 3 same url
        "",                                                                       # 4 blank: skipped
        dict(jobposting, url=f"https://loker.example/jobs/{tag}2-copy"),           # 5 same text, other url
        "{not json",                                                              # 6
        {"title": "Lowongan", "phones": ["hubungi admin"]},                       # 7 a bad phone
        ["an", "array"],                                                          # 8
        {"title": "Kerja di Malaysia", "salary": "RM 3000"},                      # 9 an unknown field
        {"description": "   "},                                               # 10 nothing to screen
    ]
    response = _post(operator, source, lines)
    assert response.status_code == 202, response.text
    summary = response.json()
    assert (summary["lines"], summary["accepted"], summary["duplicates"]) == (9, 2, 2), summary
    rejected = {r["line"]: r["reason"] for r in summary["rejected"]}
    assert sorted(rejected) == [6, 7, 8, 9, 10]
    assert rejected[6].startswith("not JSON")
    assert rejected[7].startswith("phones.0:")
    assert "object" in rejected[8]
    assert rejected[9].startswith("salary:")
    assert "url, a title or a description" in rejected[10]

    new = wait_for(lambda: (ids := _report_ids(stack, before, source)) and len(ids) >= 2 and ids, 10,
                   what="the feed reports")
    assert len(new) == 2, "each new ad is one report; duplicates and bad lines make none"
    views = [stack.api.get(f"/v1/reports/{rid}").json() for rid in new]
    by_url = {v["feed"]["url"]: v for v in views}
    matched = by_url[listed["url"]]
    assert matched["channel"] == "feed" and matched["feed"]["source"] == source
    assert matched["feed"]["seen_count"] == 2 and matched["feed"]["posted_at"].startswith("2026-11-30")
    assert matched["content"]["agency_names"] == ["LPK Sakura Mandiri"]
    assert f"+62{phone[1:]}" in matched["content"]["phones"], "the number in the ad's text is taken out"
    other = by_url[jobposting["url"]]
    assert other["feed"]["seen_count"] == 2 and other["content"]["agency_names"] == ["PT Maju Jaya Abadi"]
    assert "Syarat: lulusan SMA" in other["content"]["ad_text"] and "<p>" not in other["content"]["ad_text"]

    wait_for(lambda: stack.api.get(f"/v1/reports/{matched['id']}").json()["alerts"], 60, what="the match's alert")
    assert [m["entry_id"] for m in stack.api.get(f"/v1/reports/{matched['id']}").json()["matches"]] == [entry["id"]]
    wait_for(lambda: _mails(stack, code, matched["id"]), 30, what="the alert email")

    # the same ad posted again later: counted on its report, no report and no alert more
    seen = stack.api.get(f"/v1/reports/{matched['id']}").json()["feed"]["last_seen_at"]
    again = _post(operator, source, [dict(listed, url=listed["url"] + "&utm_medium=wa")]).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 1, [])
    view = stack.api.get(f"/v1/reports/{matched['id']}").json()
    assert view["feed"]["seen_count"] == 3 and view["feed"]["last_seen_at"] > seen
    time.sleep(2)
    assert len(_mails(stack, code, matched["id"])) == 1, "an ad seen again never alerts again"
    assert _report_ids(stack, before, source) == new

    feeds = {f["source"]: f for f in operator.get("/v1/feeds").json()}
    counts = feeds[source]
    assert (counts["lines"], counts["accepted"], counts["duplicates"], counts["rejected"]) == (10, 2, 3, 5)
    assert counts["matched"] == 1 and counts["alerted"] == 1 and counts["seen_again"] == 2


def test_unmatched_feed_ads_reach_only_a_rule_that_names_their_risk(stack):
    code, _, _ = _setup(stack)  # this agency receives "fees" for any report, but not for feed ads
    ruled = f"disnaker-{uuid.uuid4().hex[:6]}"
    stack.api.post("/v1/agencies", json={"name": "Disnakerin", "code": ruled, "emails": [f"{ruled}@polri.example"],
                                         "receives": []}).raise_for_status()
    rule = stack.api.post("/v1/routes", json={"agency_code": ruled, "categories": ["fees", "documents"],
                                              "feed_min_risk": "high", "channels": ["email"]})
    assert rule.status_code == 201 and rule.json()["feed_min_risk"] == "high", rule.text
    tag = uuid.uuid4().hex[:8]
    mild = {"url": f"https://loker.example/{tag}/1", "title": f"Kerja Korea {tag}",
            "description": "Ada biaya administrasi Rp 5 juta sebelum berangkat."}
    severe = {"url": f"https://loker.example/{tag}/2", "title": f"Kerja Kamboja {tag}",
              "description": "Biaya proses 15 juta dibayar di muka, paspor ditahan agensi selama kontrak, "
                             "berangkat pakai visa turis."}
    summary = _post(stack.api, f"board-{tag}", [mild, severe]).json()
    assert summary["accepted"] == 2, summary
    ids = {}
    for ad in (mild, severe):
        def screened(ad=ad):
            reports = stack.api.get("/v1/reports", params={"limit": 50}).json()["reports"]
            for r in reports:
                view = stack.api.get(f"/v1/reports/{r['id']}").json()
                if view["channel"] == "feed" and view["feed"] and view["feed"]["url"] == ad["url"] and view["screened_at"]:
                    return view
        ids[ad["url"]] = wait_for(screened, 30, what="the ad screened")
    assert ids[severe["url"]]["risk_level"] in ("high", "urgent"), ids[severe["url"]]["indicators"]
    assert ids[mild["url"]]["risk_level"] in ("low", "medium")
    wait_for(lambda: _mails(stack, ruled, ids[severe["url"]]["id"]), 30,
             what="the severe ad's alert to the agency whose rule names feed risk high")
    time.sleep(1.5)
    assert len(_mails(stack, ruled, ids[severe["url"]]["id"])) == 1
    assert not _mails(stack, ruled, ids[mild["url"]]["id"]), "the mild ad stays under the rule's feed risk"
    for ad in (mild, severe):
        assert not _mails(stack, code, ids[ad["url"]]["id"]), "red flags alone in a feed ad never reach an agency by its categories"


def test_feed_import_command_reads_jobposting_lines_and_scraper_csv(stack, tmp_path):
    token = stack.token("operator")
    tag = uuid.uuid4().hex[:8]
    jsonl = tmp_path / "ads.jsonl"
    postings = [{"@type": "JobPosting", "title": f"Caregiver Taiwan {tag} {i}", "description": f"Iklan nomor {i} {tag}",
                 "url": f"https://jobs.example/{tag}/{i}", "datePosted": "2026-12-0{}".format(1 + i % 3),
                 "applicationContact": {"@type": "ContactPoint", "telephone": "0812-3456-7890"}}
                for i in range(2500)]
    lines = [json.dumps(p) for p in postings] + [json.dumps(postings[7]), "{broken"]
    jsonl.write_text("\n".join(lines) + "\n")

    def run(*args):
        env = dict(stack.env, WASPADA_TOKEN=token, WASPADA_API_URL=stack.base_url)
        return subprocess.run(stack.waspada("feed", "import", *args, "--no-progress"), env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)

    done = run(str(jsonl), "--source", f"jp-{tag}")
    assert done.returncode == 1, done.stderr  # one line was rejected
    assert f"feed jp-{tag}: 2502 lines, 2500 new ads, 1 seen before, 1 rejected" in done.stdout
    assert "line 2502" in done.stderr and "not JSON" in done.stderr

    csv_file = tmp_path / "jobspy.csv"
    csv_file.write_text(
        "id,site,job_url,title,company,location,date_posted,description\n"
        f'in-1,indeed,https://id.indeed.com/viewjob?jk={tag}a,Admin gudang,PT Sinar,"Cilacap, Jawa Tengah",2026-12-01,'
        '"Dibutuhkan segera.\nHubungi 0812-3456-7890"\n'
        f"in-2,indeed,https://id.indeed.com/viewjob?jk={tag}b,Sopir,CV Lancar,Kroya,2026-12-02,Sopir truk SIM B1\n"
        f"in-3,indeed,https://id.indeed.com/viewjob?jk={tag}a&from=share,Admin gudang,PT Sinar,Cilacap,2026-12-01,x\n")
    done = run(str(csv_file), "--source", f"jobspy-{tag}")
    assert done.returncode == 0, done.stderr
    assert f"feed jobspy-{tag}: 3 lines, 2 new ads, 1 seen before, 0 rejected" in done.stdout

    bad = tmp_path / "other.csv"
    bad.write_text("name,phone\nBudi,0812\n")
    refused = run(str(bad), "--source", "x")
    assert refused.returncode == 2 and "none of the columns" in refused.stderr
    feeds = {f["source"]: f for f in stack.api.get("/v1/feeds").json()}
    assert feeds[f"jobspy-{tag}"]["accepted"] == 2 and feeds[f"jp-{tag}"]["accepted"] == 2500


def test_feed_posts_are_checked_at_the_door(stack):
    operator = stack.client(stack.token("operator"))
    assert operator.post("/v1/feeds/Bad Name/ads", content=b'{"title": "x"}').status_code == 422
    empty = operator.post("/v1/feeds/ok/ads", content=b"\n \n")
    assert empty.status_code == 422 and "body" in empty.text
    assert operator.post("/v1/feeds/ok/ads", content=b"x", headers={"Content-Type": "text/csv"}).status_code == 415
    agency = stack.client(stack.token("agency", agency_code=_agency(stack)))
    assert agency.post("/v1/feeds/ok/ads", content=b'{"title": "x"}').status_code == 403
    big = b'{"title": "x", "description": "' + b"a" * 19_000 + b'"}\n'
    too_large = operator.post("/v1/feeds/ok/ads", content=big * 600)  # 11 MiB
    assert too_large.status_code == 413


def _agency(stack) -> str:
    code = f"ag-{uuid.uuid4().hex[:6]}"
    stack.api.post("/v1/agencies", json={"name": "Imigrasi", "code": code, "receives": []}).raise_for_status()
    return code
