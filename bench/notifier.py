"""Notifier throughput against local servers (real aiosmtpd, Twilio-compatible server + real SDK).

    python bench/notifier.py [--emails 4000] [--sms 100] [--sms-rate 20] [--database-url postgresql://...]

Starts the system (tests/harness.py), then publishes screening results straight onto
matches.v1: one email-only agency for the email run, one SMS-only agency for the SMS run.
Prints one line:
    notifier emails_per_s=... sms_per_s=... p99_ms=... sms_rate_limit=... sms_max_in_1s=...
p99_ms is the email latency from publish to arrival at the SMTP server. Goals (not asserted):
>= 300 emails/s; SMS never faster than the configured rate (sms_max_in_1s <= the limit + 1)."""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shared.kafka import make_producer  # noqa: E402
from shared.schemas import ScreeningResult, utcnow  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.topics import MATCHES  # noqa: E402
from tests.harness import Stack, start_sinks, wait_for  # noqa: E402


async def publish(bootstrap: str, category: str, count: int, sent_at: dict[str, float]) -> None:
    producer = make_producer(Settings(kafka_bootstrap=bootstrap))
    await producer.start()
    try:
        for i in range(count):
            report_id = f"rpt_{i:08d}{category[:4]}{i:08d}"  # the case reference is the first 8 characters
            result = ScreeningResult(report_id=report_id, screened_at=utcnow(), categories=[category],
                                     risk_level="medium")
            sent_at[f"{i:08d}"] = time.monotonic()
            await producer.send(MATCHES.name, key=report_id.encode(), value=result.model_dump_json().encode())
        await producer.flush()
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=4000)
    parser.add_argument("--sms", type=int, default=100)
    parser.add_argument("--sms-rate", type=float, default=20)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="waspada-bench-notifier-"))
    sinks = start_sinks(folder / "sinks")
    sinks.sms.deliver_status = ""  # no callbacks: measure sending
    stack = Stack(folder / "home", args.database_url or f"sqlite:///{folder / 'bench.db'}", sinks,
                  extra_env={"WASPADA_SMS_PER_S": str(args.sms_rate), "WASPADA_EMAIL_PER_S": "100000"})
    try:
        stack.start()
        stack.api.post("/v1/agencies", json={"name": "Mail", "code": "bench-mail", "emails": ["desk@mail.example"],
                                             "phones": [], "receives": ["bench_email"]}).raise_for_status()
        stack.api.post("/v1/agencies", json={"name": "Sms", "code": "bench-sms", "emails": [],
                                             "phones": ["+6281100000555"], "receives": ["bench_sms"]}).raise_for_status()
        bootstrap = stack.env["WASPADA_KAFKA_BOOTSTRAP"]
        arrivals: dict[str, float] = {}
        original = sinks.mail.handle_DATA

        async def timed(server, session, envelope):
            answer = await original(server, session, envelope)
            ref = re.search(rb"RPT-([0-9A-Z]{8})", envelope.content)
            if ref:
                arrivals.setdefault(ref.group(1).decode(), time.monotonic())
            return answer

        sinks.mail.handle_DATA = timed
        sent_at: dict[str, float] = {}
        start = time.monotonic()
        asyncio.run(publish(bootstrap, "bench_email", args.emails, sent_at))
        wait_for(lambda: len(arrivals) >= args.emails, 600, interval_s=0.2, what="all emails")
        email_rate = args.emails / (max(arrivals.values()) - start)
        latencies = sorted((arrivals[ref] - sent_at[ref]) * 1000 for ref in arrivals)

        sms_start = time.monotonic()
        asyncio.run(publish(bootstrap, "bench_sms", args.sms, {}))
        wait_for(lambda: len(sinks.sms.messages) >= args.sms, 600, interval_s=0.2, what="all SMS")
        stamps = sorted(time.mktime(time.strptime(m["at"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + m["at"][20:26])
                        for m in sinks.sms.messages)
        sms_rate = args.sms / (time.monotonic() - sms_start)
        max_in_1s = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
        print(f"notifier emails_per_s={email_rate:.0f} sms_per_s={sms_rate:.1f} "
              f"p99_ms={latencies[int(0.99 * (len(latencies) - 1))]:.0f} sms_rate_limit={args.sms_rate:g} "
              f"sms_max_in_1s={max_in_1s}")
    finally:
        stack.stop()
        sinks.stop()


if __name__ == "__main__":
    main()
