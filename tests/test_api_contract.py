"""The HTTP contract of the ingest: validation names the field, limits, idempotency, auth."""
from __future__ import annotations

import uuid

import httpx
import pytest


@pytest.fixture(scope="module")
def operator(stack):
    return stack.client(stack.token("operator"))


def test_invalid_report_is_422_naming_each_bad_field(operator):
    response = operator.post("/v1/reports", json={
        "channel": "telegram", "phones": ["not a phone"], "victims": {"count": -1}, "surprise": 1})
    assert response.status_code == 422
    locations = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert ("body", "channel") in locations
    assert ("body", "phones", 0) in locations
    assert ("body", "victims", "count") in locations
    assert ("body", "surprise") in locations


def test_missing_channel_and_malformed_json(operator):
    response = operator.post("/v1/reports", json={"agency_names": ["PT X"]})
    assert response.status_code == 422 and ["body", "channel"] in [e["loc"] for e in response.json()["detail"]]
    response = operator.post("/v1/reports", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_body_over_64_kib_is_413_and_stores_nothing(operator, stack):
    big = {"channel": "feed", "ad_text": "x" * (70 * 1024)}
    response = operator.post("/v1/reports", json=big)
    assert response.status_code == 413

    def chunks():
        yield b'{"channel": "feed", "ad_text": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    response = operator.post("/v1/reports", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_idempotency_key_gives_the_same_report(operator):
    key = str(uuid.uuid4())
    body = {"channel": "whatsapp", "phones": ["0812 1111 0000"]}
    first = operator.post("/v1/reports", json=body, headers={"Idempotency-Key": key})
    second = operator.post("/v1/reports", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = operator.post("/v1/reports", json={**body, "phones": ["0812 1111 0001"]}, headers={"Idempotency-Key": key})
    assert other.status_code == 409
    fresh = operator.post("/v1/reports", json=body)
    assert fresh.json()["id"] != first.json()["id"]


def test_tokens_and_roles(stack, operator):
    anonymous = httpx.post(f"{stack.base_url}/v1/reports", json={"channel": "web"})
    assert anonymous.status_code == 401
    assert operator.get("/v1/watchlist/entries").status_code == 403
    assert operator.post("/v1/agencies", json={"name": "X", "code": "xx"}).status_code == 403
    token_id = next(t["id"] for t in stack.api.get("/v1/tokens").json() if t["role"] == "operator")
    throwaway = stack.token("operator")
    client = stack.client(throwaway)
    assert client.post("/v1/reports", json={"channel": "web"}).status_code == 202
    created = [t for t in stack.api.get("/v1/tokens").json() if t["revoked_at"] is None]
    newest = created[-1]["id"]
    assert stack.api.delete(f"/v1/tokens/{newest}").status_code == 204
    assert client.post("/v1/reports", json={"channel": "web"}).status_code == 401
    assert token_id


def test_operator_reads_only_own_reports(stack, operator):
    mine = operator.post("/v1/reports", json={"channel": "web"}).json()["id"]
    other = stack.client(stack.token("operator"))
    assert operator.get(f"/v1/reports/{mine}").status_code == 200
    assert other.get(f"/v1/reports/{mine}").status_code == 404


def test_watchlist_crud_and_validation(stack):
    api = stack.api
    bad = api.post("/v1/watchlist/entries", json={"kind": "company", "name": "", "phones": ["abc"]})
    assert bad.status_code == 422
    assert {tuple(e["loc"])[-1] if e["loc"][-1] != 0 else "phones" for e in bad.json()["detail"]} >= {"kind", "name", "phones"}
    entry_id = f"t-{uuid.uuid4().hex[:8]}"
    created = api.post("/v1/watchlist/entries", json={"id": entry_id, "kind": "person", "name": "Joko Susilo"})
    assert created.status_code == 201 and created.json()["version"] == 1
    assert api.post("/v1/watchlist/entries", json={"id": entry_id, "kind": "person", "name": "X"}).status_code == 409
    patched = api.patch(f"/v1/watchlist/entries/{entry_id}", json={"aliases": ["Pak Joko"]})
    assert patched.status_code == 200 and patched.json()["version"] == 2 and patched.json()["aliases"] == ["Pak Joko"]
    listed = api.get("/v1/watchlist/entries", params={"q": "joko"}).json()
    assert entry_id in [e["id"] for e in listed["entries"]]
    assert api.delete(f"/v1/watchlist/entries/{entry_id}").status_code == 204
    assert api.get(f"/v1/watchlist/entries/{entry_id}").status_code == 404
    assert api.delete(f"/v1/watchlist/entries/{entry_id}").status_code == 404
