"""Retention purge (with holds), per-token rate limits and strict admin schemas."""
from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from services.ingest.app import create_app
from shared.db import create_schema, make_engine, make_sessionmaker, now
from shared.models import ReportRow
from shared.settings import Settings
from tests.harness import REPO


def _age(stack, report_ids: list[str], days: int) -> None:
    engine = make_engine(stack.database_url)
    with make_sessionmaker(engine).begin() as s:
        s.execute(update(ReportRow).where(ReportRow.id.in_(report_ids)).values(received_at=now() - timedelta(days=days)))
    engine.dispose()


def test_purge_erases_personal_data_past_retention_unless_held(stack):
    operator = stack.client(stack.token("operator"))
    body = {"channel": "walk_in", "agency_names": ["PT Retensi Uji"], "ad_text": "Dicari TKW, hubungi Bu Ani",
            "location": {"kecamatan": "Kroya", "desa": "Pesanggrahan"},
            "reporter": {"name": "Wartini", "phone": "081298765432"}}
    old, held, recent = (operator.post("/v1/reports", json=body).json()["id"] for _ in range(3))
    _age(stack, [old, held], days=400)
    assert stack.api.put(f"/v1/reports/{held}/hold", json={"reason": "Perkara LP/B/77/2026"}).status_code == 204

    result = subprocess.run(stack.waspada("retention", "purge", "--days", "365"), env=stack.env, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    purged = stack.api.get(f"/v1/reports/{old}/reporter").json()
    assert purged == {"report_id": old, "reporter_name": None, "reporter_phone": None, "desa": None, "purged": True}
    view = stack.api.get(f"/v1/reports/{old}").json()
    assert view["purged"] and view["content"]["ad_text"] == "" and view["content"]["agency_names"] == ["PT Retensi Uji"]
    assert stack.api.get(f"/v1/reports/{held}/reporter").json()["reporter_name"] == "Wartini", "held for a case"
    assert stack.api.get(f"/v1/reports/{recent}/reporter").json()["reporter_name"] == "Wartini", "not yet due"
    records = stack.api.get("/v1/audit", params={"action": "retention.purge", "target_id": old}).json()["records"]
    assert len(records) == 1 and set(records[0]["after"]["fields"]) == {"reporter_name", "reporter_phone", "desa", "ad_text"}
    assert "Wartini" not in str(records)
    # Releasing the hold makes it due at the next purge.
    assert stack.api.delete(f"/v1/reports/{held}/hold").status_code == 204
    subprocess.run(stack.waspada("retention", "purge", "--days", "365"), env=stack.env, cwd=REPO, check=True,
                   capture_output=True, timeout=120)
    assert stack.api.get(f"/v1/reports/{held}/reporter").json()["purged"] is True
    operator.close()


def test_rate_limit_per_token_answers_429_with_retry_after(tmp_path):
    settings = Settings(home=tmp_path, admin_token="adm-limit-test", rate_limit_per_s=0.5, rate_limit_burst=3)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    engine.dispose()
    client = TestClient(create_app(settings))  # no lifespan: these routes need only the database
    headers = {"Authorization": "Bearer adm-limit-test"}
    statuses = [client.get("/v1/agencies", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/v1/agencies", headers=headers)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # Another token has its own bucket.
    assert client.get("/v1/agencies", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_admin_bodies_refuse_unknown_fields_naming_them(stack):
    for path, body in [("/v1/agencies", {"name": "X", "code": f"x-{uuid.uuid4().hex[:4]}", "fax": "1"}),
                       ("/v1/watchlist/entries", {"kind": "agency", "name": "PT X", "risk": "high"}),
                       ("/v1/routes", {"agency_code": "x", "categories": ["minor"], "priority": 1}),
                       ("/v1/tokens", {"name": "x", "role": "operator", "admin": True})]:
        response = stack.api.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert any(err["loc"][-1] in ("fax", "risk", "priority", "admin") for err in response.json()["detail"]), path


def test_agency_names_cannot_smuggle_email_headers(stack):
    response = stack.api.post("/v1/agencies", json={"name": "Dinsos\r\nBcc: spy@evil.example", "code": "hdr-inject"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "name"]
