"""Personal data of victims and reporters never leaves the ingest's database: not in any log,
SMS body, email subject, or Kafka message."""
from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from shared.topics import ALL_TOPICS
from tests.harness import wait_for


async def _all_messages(bootstrap: str) -> bytes:
    consumer = AIOKafkaConsumer(*[t.name for t in ALL_TOPICS], bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    seen = b""
    try:
        for _ in range(40):
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    seen += (record.value or b"") + b"\n" + b"".join(v for _, v in record.headers or [])
    finally:
        await consumer.stop()
    return seen


def test_personal_data_stays_out_of_logs_sms_subjects_and_topics(stack):
    code = f"ppa-{uuid.uuid4().hex[:6]}"
    stack.api.post("/v1/agencies", json={"name": "Unit PPA", "code": code, "emails": [f"{code}@polri.example"],
                                         "phones": ["+6281100007777"], "receives": ["watchlist_match", "minor"]})
    entry = stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": f"Calo Rahasia {uuid.uuid4().hex[:4]}"}).json()
    secrets = {
        "reporter name": "Kartini Wulandari Sasmita",
        "reporter phone": "+62 813 2468 1357",
        "reporter phone digits": "81324681357",
        "desa": "Karangbawang",
    }
    operator = stack.client(stack.token("operator"))
    ids = []
    for _ in range(3):
        response = operator.post("/v1/reports", json={
            "channel": "hotline", "recruiter_names": [entry["name"]],
            "ad_text": "Dicari pembantu, usia 16 tahun boleh",
            "location": {"kecamatan": "Kroya", "desa": secrets["desa"]},
            "victims": {"count": 2, "minors": True},
            "reporter": {"name": secrets["reporter name"], "phone": secrets["reporter phone"]}})
        assert response.status_code == 202
        ids.append(response.json()["id"])
    wait_for(lambda: sum(1 for m in stack.sinks.sms.messages if m["form"]["To"] == "+6281100007777") >= 3, 60,
             what="the SMS alerts")
    wait_for(lambda: sum(1 for m in stack.sinks.mail.messages if f"{code}@polri.example" in m["rcpt_tos"]) >= 3, 60,
             what="the email alerts")

    logs = stack.logs()
    sms = "\n".join(m["form"]["Body"] for m in stack.sinks.sms.messages)
    subjects = "\n".join(m["subject"] for m in stack.sinks.mail.messages)
    bodies = "\n".join(m["body"] for m in stack.sinks.mail.messages)
    topics = asyncio.run(_all_messages(stack.env["WASPADA_KAFKA_BOOTSTRAP"])).decode(errors="replace")
    assert ids[0] in topics, "the topics were read"
    for what, value in secrets.items():
        for place, text in (("logs", logs), ("SMS", sms), ("email subjects", subjects),
                            ("email bodies", bodies), ("Kafka topics", topics)):
            assert value not in text, f"{what} found in {place}"
    assert "16 tahun" not in sms and "16 tahun" not in subjects, "no age in SMS or subjects"
    # The report view does not carry them either (the reporter is for admins through an audited path).
    view = operator.get(f"/v1/reports/{ids[0]}").json()
    assert all(value not in str(view) for value in secrets.values())
