"""The audit log: every change and confidential read recorded with actor and before/after;
the hash chain catches an edited, removed or inserted record (`waspada audit verify`)."""
from __future__ import annotations

import subprocess
import uuid

from sqlalchemy import text
from sqlalchemy.orm import make_transient

from services.ingest.audit.models import AuditRecord
from shared.db import make_engine, make_sessionmaker

from tests.harness import REPO


def _verify(stack) -> subprocess.CompletedProcess:
    return subprocess.run(stack.waspada("audit", "verify"), env=stack.env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _engine(stack):
    return make_engine(stack.database_url)


def test_changes_are_audited_with_actor_and_before_after(stack):
    code = f"aud-{uuid.uuid4().hex[:6]}"
    body = {"name": "Disnakerin Cilacap", "code": code, "emails": [f"{code}@example.go.id"]}
    assert stack.api.post("/v1/agencies", json=body).status_code == 201
    assert stack.api.put(f"/v1/agencies/{code}", json={**body, "phones": ["+6281100000099"]}).status_code == 200
    token = stack.api.post("/v1/tokens", json={"name": "auditee", "role": "operator"}).json()
    records = stack.api.get("/v1/audit", params={"target_id": code}).json()["records"]
    assert [r["action"] for r in records] == ["agency.update", "agency.create"]  # newest first
    update = records[0]
    assert update["actor"] == "bootstrap-admin"
    assert update["before"]["phones"] == [] and update["after"]["phones"] == ["+6281100000099"]
    created = stack.api.get("/v1/audit", params={"action": "token", "target_id": token["id"]}).json()["records"]
    assert created[0]["action"] == "token.create" and token["token"] not in str(created), "never the secret"
    # Filters: by action prefix and by actor; pages by before_seq.
    page = stack.api.get("/v1/audit", params={"action": "agency", "limit": 1}).json()
    assert len(page["records"]) == 1 and page["next_before_seq"] == page["records"][0]["seq"]
    older = stack.api.get("/v1/audit", params={"action": "agency", "limit": 1,
                                               "before_seq": page["next_before_seq"]}).json()
    assert older["records"][0]["seq"] < page["records"][0]["seq"]
    assert stack.api.get("/v1/audit", params={"limit": 0}).status_code == 422


def test_verify_detects_an_edited_and_a_removed_record(stack):
    for i in range(3):
        code = f"chain-{uuid.uuid4().hex[:6]}"
        stack.api.post("/v1/agencies", json={"name": f"Chain {i}", "code": code})
    intact = _verify(stack)
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stderr

    engine = _engine(stack)
    with engine.begin() as db:
        last = db.execute(text("SELECT max(seq) FROM audit_log")).scalar()
        victim = last - 1
        original = db.execute(text("SELECT actor FROM audit_log WHERE seq = :s"), {"s": victim}).scalar()
        db.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = :s"), {"s": victim})
    edited = _verify(stack)
    assert edited.returncode == 1 and f"record {victim}" in edited.stderr and "edited" in edited.stderr

    with engine.begin() as db:
        db.execute(text("UPDATE audit_log SET actor = :a WHERE seq = :s"), {"a": original, "s": victim})
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        row = s.get(AuditRecord, last)
        s.delete(row)
    removed = _verify(stack)
    assert removed.returncode == 1 and "removed" in removed.stderr

    with sessions.begin() as s:  # put it back as it was: the chain is whole again
        make_transient(row)
        s.add(row)
    assert _verify(stack).returncode == 0
    engine.dispose()
