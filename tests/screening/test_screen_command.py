"""`waspada screen` end to end: the real command, real files, stdout only JSON, one line per report."""
from __future__ import annotations

import json
import subprocess
import sys

WATCHLIST = """id,kind,name,aliases,phones,license_numbers,notes,source,colour
w1,agency,PT Sinar Jaya Abadi,Sinar Jaya Overseas,0812-3456-7890,SIP3MI/12/2020,"recruits for Cambodia",court decision 12/2024,red
w2,person,Bambang Setiawan,Pak Bambang;Mas Bambang,+62 857 1111 2222,,calo,,blue
"""

REPORTS = [
    {"id": "r1", "agency_names": ["P.T. Sinar Djaja Abadi"], "channel": "hotline", "reporter": {"name": "X"}},
    {"id": "r2", "phones": ["085711112222"], "ad_text": "pakai visa turis dulu", "victims": {"count": 1, "minors": True}},
    {"id": "r3"},
    {"id": "r4", "recruiter_names": ["Bambang Sutrisno"]},
]


def run(args, stdin: str):
    return subprocess.run([sys.executable, "-m", "services.cli", "screen", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_screen_writes_one_json_line_per_report_in_order(tmp_path):
    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    result = run(["--watchlist", str(watchlist)], "\n".join(json.dumps(r) for r in REPORTS) + "\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["report_id"] for line in lines] == ["r1", "r2", "r3", "r4"]
    assert [m["entry_id"] for m in lines[0]["matches"]] == ["w1"]
    assert lines[0]["matches"][0]["evidence"][0]["method"] == "name_tokens"
    assert [m["entry_id"] for m in lines[1]["matches"]] == ["w2"]
    assert [i["code"] for i in lines[1]["indicators"]] == ["visa_misuse"]
    assert lines[1]["risk_level"] == "urgent" and "minor" in lines[1]["categories"]
    assert lines[2]["matches"] == [] and lines[3]["matches"] == []
    assert all(0 <= m["score"] <= 1 for line in lines for m in line["matches"])


def test_min_score_lowers_the_bar(tmp_path):
    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    strict = json.loads(run(["--watchlist", str(watchlist)], json.dumps(REPORTS[3])).stdout)
    loose = json.loads(run(["--watchlist", str(watchlist), "--min-score", "0.5"], json.dumps(REPORTS[3])).stdout)
    assert strict["matches"] == [] and [m["entry_id"] for m in loose["matches"]] == ["w2"]


def test_malformed_row_stops_with_its_line_number(tmp_path):
    watchlist = tmp_path / "bad.csv"
    watchlist.write_text("id,kind,name,aliases,phones,license_numbers,notes\n"
                         "w1,agency,PT Baik,,,,\n"
                         "w2,company,PT Salah,,,,\n"
                         "w3,person,Budi,,not-a-phone,,\n", encoding="utf-8")
    result = run(["--watchlist", str(watchlist)], json.dumps(REPORTS[0]))
    assert result.returncode != 0 and result.stdout == ""
    assert "line 3, column kind" in result.stderr and "line 4, column phones" in result.stderr


def test_missing_required_column(tmp_path):
    watchlist = tmp_path / "short.csv"
    watchlist.write_text("id,kind,name\nw1,agency,PT A\n", encoding="utf-8")
    result = run(["--watchlist", str(watchlist)], "{}")
    assert result.returncode != 0 and "line 1" in result.stderr and "aliases" in result.stderr
