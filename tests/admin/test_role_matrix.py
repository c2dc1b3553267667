"""Every API route, called with no token and with each role's token: who may, who is refused.

The table below is the access policy. A route added to the API without a row here fails the
test, so nobody adds a door without deciding who holds its key."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest

ADMIN, OPERATOR, AGENCY = "admin", "operator", "agency"
PUBLIC = "public"  # no token; guarded otherwise (health check, signed provider webhooks)

POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): {PUBLIC},
    ("POST", "/v1/webhooks/twilio/status"): {PUBLIC},
    ("POST", "/v1/webhooks/twilio/inbound"): {PUBLIC},
    ("POST", "/v1/reports"): {ADMIN, OPERATOR},
    ("GET", "/v1/reports"): {ADMIN, OPERATOR},
    ("GET", "/v1/reports/{report_id}"): {ADMIN, OPERATOR, AGENCY},
    ("GET", "/v1/reports/{report_id}/reporter"): {ADMIN},
    ("PUT", "/v1/reports/{report_id}/hold"): {ADMIN},
    ("DELETE", "/v1/reports/{report_id}/hold"): {ADMIN},
    ("POST", "/v1/reports/{report_id}/matches/{entry_id}/false-positive"): {ADMIN},
    ("POST", "/v1/feeds/{source}/ads"): {ADMIN, OPERATOR},
    ("GET", "/v1/feeds"): {ADMIN, OPERATOR},
    ("GET", "/v1/reviews"): {ADMIN},
    ("POST", "/v1/reviews/{report_id}/{entry_id}"): {ADMIN},
    ("GET", "/v1/tips"): {ADMIN, OPERATOR},
    ("GET", "/v1/tips/{tip_id}"): {ADMIN, OPERATOR},
    ("POST", "/v1/tips/{tip_id}/report"): {ADMIN, OPERATOR},
    ("POST", "/v1/tips/{tip_id}/dismiss"): {ADMIN, OPERATOR},
    ("GET", "/v1/alerts"): {ADMIN, AGENCY},
    ("POST", "/v1/alerts/{alert_id}/ack"): {ADMIN, AGENCY},
    ("GET", "/v1/watchlist/entries"): {ADMIN},
    ("POST", "/v1/watchlist/entries"): {ADMIN},
    ("GET", "/v1/watchlist/entries/{entry_id}"): {ADMIN},
    ("PATCH", "/v1/watchlist/entries/{entry_id}"): {ADMIN},
    ("DELETE", "/v1/watchlist/entries/{entry_id}"): {ADMIN},
    ("POST", "/v1/watchlist/entries/{entry_id}/disputes"): {ADMIN},
    ("GET", "/v1/watchlist/disputes"): {ADMIN},
    ("POST", "/v1/watchlist/disputes/{dispute_id}/resolve"): {ADMIN},
    ("POST", "/v1/watchlist/import"): {ADMIN},
    ("GET", "/v1/watchlist/export"): {ADMIN},
    ("GET", "/v1/agencies"): {ADMIN},
    ("POST", "/v1/agencies"): {ADMIN},
    ("GET", "/v1/agencies/{code}"): {ADMIN},
    ("PUT", "/v1/agencies/{code}"): {ADMIN},
    ("GET", "/v1/agencies/{code}/broken-contacts"): {ADMIN},
    ("GET", "/v1/routes"): {ADMIN},
    ("POST", "/v1/routes"): {ADMIN},
    ("GET", "/v1/routes/{route_id}"): {ADMIN},
    ("PUT", "/v1/routes/{route_id}"): {ADMIN},
    ("DELETE", "/v1/routes/{route_id}"): {ADMIN},
    ("GET", "/v1/tokens"): {ADMIN},
    ("POST", "/v1/tokens"): {ADMIN},
    ("DELETE", "/v1/tokens/{token_id}"): {ADMIN},
    ("GET", "/v1/audit"): {ADMIN},
}


@pytest.fixture(scope="module")
def tokens(stack):
    code = f"mx-{uuid.uuid4().hex[:6]}"
    assert stack.api.post("/v1/agencies", json={"name": "Matrix agency", "code": code,
                                                "emails": [f"{code}@agency.example"]}).status_code == 201
    return {ADMIN: stack.admin_token, OPERATOR: stack.token("operator"), AGENCY: stack.token("agency", code)}


def routes_in_spec(stack) -> set[tuple[str, str]]:
    spec = httpx.get(f"{stack.base_url}/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_policy_covers_every_route(stack):
    assert routes_in_spec(stack) == set(POLICY), "every API route needs a row in POLICY (and no stale rows)"


def _call(stack, method: str, path: str, token: str | None) -> httpx.Response:
    concrete = re.sub(r"\{[^}]+\}", "does-not-exist", path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        # An empty JSON object: allowed callers get 404/422 (or 2xx), never 401/403.
        return client.request(method, concrete, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)


def test_every_route_with_every_role(stack, tokens):
    wrong = []
    for (method, path), allowed in sorted(POLICY.items()):
        if PUBLIC in allowed:
            continue
        anonymous = _call(stack, method, path, None)
        if anonymous.status_code != 401:
            wrong.append(f"{method} {path} without token: {anonymous.status_code}, expected 401")
        bad = _call(stack, method, path, "wsp_not-a-real-token")
        if bad.status_code != 401:
            wrong.append(f"{method} {path} with an unknown token: {bad.status_code}, expected 401")
        for role, token in tokens.items():
            status = _call(stack, method, path, token).status_code
            if role in allowed and status in (401, 403):
                wrong.append(f"{method} {path} as {role}: {status}, expected to be let in")
            if role not in allowed and status != 403:
                wrong.append(f"{method} {path} as {role}: {status}, expected 403")
    assert not wrong, "\n".join(wrong)


def test_public_routes_are_guarded_otherwise(stack):
    # Provider webhooks need Twilio's signature instead of a token.
    for path in ("/v1/webhooks/twilio/status", "/v1/webhooks/twilio/inbound"):
        response = httpx.post(f"{stack.base_url}{path}", data={"MessageSid": "SM1", "MessageStatus": "delivered"})
        assert response.status_code == 403
    assert httpx.get(f"{stack.base_url}/healthz").status_code == 200


def test_revoked_token_is_refused(stack):
    created = stack.api.post("/v1/tokens", json={"name": "short-lived", "role": "operator"}).json()
    with stack.client(created["token"]) as client:
        assert client.get("/v1/reports").status_code == 200
        assert stack.api.delete(f"/v1/tokens/{created['id']}").status_code == 204
        assert client.get("/v1/reports").status_code == 401
    listed = {t["id"]: t for t in stack.api.get("/v1/tokens").json()}
    assert listed[created["id"]]["revoked_at"] is not None
    assert "token" not in listed[created["id"]], "a token's secret is shown once, at creation"


def test_operator_reads_only_own_reports_and_never_the_reporter(stack, tokens):
    mine = stack.client(tokens[OPERATOR])
    other = stack.client(stack.token("operator"))
    report = {"channel": "hotline", "agency_names": ["PT Matrix Test"],
              "reporter": {"name": "Siti Rahayu", "phone": "081234567801"}}
    report_id = mine.post("/v1/reports", json=report).json()["id"]
    view = mine.get(f"/v1/reports/{report_id}")
    assert view.status_code == 200 and "Siti" not in view.text and "081234567801" not in view.text
    assert other.get(f"/v1/reports/{report_id}").status_code == 404
    assert report_id in {r["id"] for r in mine.get("/v1/reports").json()["reports"]}
    assert report_id not in {r["id"] for r in other.get("/v1/reports").json()["reports"]}
    assert mine.get(f"/v1/reports/{report_id}/reporter").status_code == 403
    # Admins may read the reporter, and each read is audited (without the values).
    reporter = stack.api.get(f"/v1/reports/{report_id}/reporter")
    assert reporter.json()["reporter_name"] == "Siti Rahayu"
    records = stack.api.get("/v1/audit", params={"action": "report.reporter.read", "target_id": report_id}).json()
    assert len(records["records"]) == 1 and records["records"][0]["actor"] == "bootstrap-admin"
    assert "Siti" not in str(records) and "081234567801" not in str(records)
    mine.close()
    other.close()
