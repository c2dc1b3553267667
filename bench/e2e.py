"""End-to-end latency: report sent (answered 202) -> SMS received by the Twilio-compatible server.

    python bench/e2e.py --rate 100 --seconds 20 [--database-url postgresql://...]

Starts its own system (embedded broker, the three services as processes, real SMTP and
Twilio-compatible sinks in this process), creates one agency and one watchlist entry, then
submits reports naming the entry at a steady rate from a process of its own. Prints one line:
    e2e reports=... rate=... p50_ms=... p99_ms=... lost=... duplicates=...
Goal (not asserted anywhere): at --rate 100 --seconds 60, p50 <= 50 ms and p99 <= 250 ms,
lost=0, duplicates=0, on SQLite and on PostgreSQL, on 2 cores."""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.arrivals import record_sms_arrivals  # noqa: E402
from tests.harness import Stack, start_sinks, wait_for  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def drive(base_url: str, token: str, rate: float, seconds: float) -> tuple[dict[str, float], dict[str, int]]:
    """Submit reports on schedule; (report id -> when its request left, why others were refused)."""
    import aiohttp

    accepted: dict[str, float] = {}
    refused: dict[str, int] = defaultdict(int)
    interval = 1.0 / rate
    async with aiohttp.ClientSession(base_url, headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(limit=64),
                                     timeout=aiohttp.ClientTimeout(total=60)) as client:
        async def submit(i: int) -> None:
            # From the moment the request leaves: the time the 202 took counts
            sent = time.monotonic()
            try:
                async with client.post("/v1/reports", json={
                        "channel": "hotline", "phones": ["0813-9000-1234"],
                        "ad_text": f"Lowongan kerja nomor {i}"}) as response:
                    body = await response.json() if response.status == 202 else None
            except (aiohttp.ClientError, TimeoutError) as exc:
                refused[type(exc).__name__] += 1
                return
            if body:
                accepted[body["id"]] = sent
            else:
                refused[str(response.status)] += 1

        start = time.monotonic()
        tasks, i = [], 0
        total = int(rate * seconds)
        while i < total:
            # every report due by now, all at once if this process fell behind the schedule
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while i < due:
                tasks.append(asyncio.create_task(submit(i)))
                i += 1
            await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        await asyncio.gather(*tasks)
    return accepted, dict(refused)


def drive_in_own_process(base_url: str, token: str, rate: float, seconds: float):
    """The load comes from a process of its own: this one runs the SMTP and Twilio sinks, and
    sharing an interpreter with them would make the client late (CLOCK_MONOTONIC is the same
    clock in both)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_drive_sync, (base_url, token, rate, seconds))


def _drive_sync(base_url: str, token: str, rate: float, seconds: float):
    return asyncio.run(drive(base_url, token, rate, seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="waspada-bench-"))
    sinks = start_sinks(folder / "sinks")
    arrivals = record_sms_arrivals(sinks)
    stack = Stack(folder / "home", args.database_url or f"sqlite:///{folder / 'bench.db'}", sinks,
                  # one operator token submits every report: its API rate limit must not be the
                  # bottleneck measured (it is 20/s by default, for a person at a hotline desk)
                  extra_env={"WASPADA_SMS_PER_S": str(max(args.rate * 2, 50)),
                             "WASPADA_RATE_LIMIT_PER_S": str(max(args.rate * 2, 20)),
                             "WASPADA_RATE_LIMIT_BURST": str(max(int(args.rate * 2), 100))})
    try:
        stack.start()
        stack.api.post("/v1/agencies", json={"name": "Polresta Cilacap", "code": "polresta", "emails": [],
                                             "phones": ["+6281100000001"], "receives": ["watchlist_match"]})
        stack.api.post("/v1/watchlist/entries", json={"kind": "person", "name": "Calo Bench",
                                                      "phones": ["+62 813 9000 1234"]})
        token = stack.token("operator")
        time.sleep(1.0)  # the entry reaches the matcher through watchlist.v1
        accepted, refused = drive_in_own_process(stack.base_url, token, args.rate, args.seconds)
        refs = {rid: rid.removeprefix("rpt_")[:8] for rid in accepted}
        try:
            wait_for(lambda: all(arrivals.get(ref) for ref in refs.values()), 60, interval_s=0.2)
        except AssertionError:
            pass
        time.sleep(1.0)  # late duplicates would show here
        latencies = [(arrivals[ref][0] - accepted[rid]) * 1000 for rid, ref in refs.items() if arrivals.get(ref)]
        lost = sum(1 for ref in refs.values() if not arrivals.get(ref))
        duplicates = sum(len(arrivals[ref]) - 1 for ref in refs.values() if arrivals.get(ref))
        print(f"e2e reports={len(accepted)} rate={args.rate:g} p50_ms={statistics.median(latencies):.1f} "
              f"p99_ms={percentile(latencies, 0.99):.1f} lost={lost} duplicates={duplicates}"
              + (f" refused={dict(refused)}" if refused else ""))
    finally:
        stack.stop()
        sinks.stop()


if __name__ == "__main__":
    main()
