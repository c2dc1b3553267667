"""A bulk feed end to end: a file of job ads through `waspada feed import` into the running
system, screened against a large watchlist, the matching ads alerting by SMS.

    python bench/feed.py [--ads 100000] [--entries 100000] [--listed 0.02] [--database-url postgresql://...]

Starts its own system (embedded broker, the three services as processes, the SMTP and
Twilio-compatible sinks in this process), imports a watchlist of N entries, writes a file of
schema.org JobPosting lines (Indonesian job-ad text, some with red flags; a share of them
naming a listed entry by its number or its name), and runs `waspada feed import` on it as a
user would. Prints one line:
    feed ads=... ads_per_s=... alerts=... alert_p99_ms=... lost=... duplicates=...
ads_per_s: ads imported and screened, from the command's start to the last ad screened.
alert_p99_ms: from an ad's report being stored (its import) to its SMS at the Twilio server.
lost: listed ads without an alert; duplicates: alerts beyond one an ad; unexpected: alerts
for ads that name no listed entry.
Goal (not asserted anywhere): >= 1,000 ads/s, alert p99 <= 2,000 ms, on 2 cores."""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shared.db import make_engine, make_sessionmaker  # noqa: E402
from services.ingest.models import FeedAdRow  # noqa: E402
from shared.models import ReportRow  # noqa: E402
from bench.arrivals import record_sms_arrivals  # noqa: E402
from tests.harness import REPO, Stack, start_sinks, wait_for  # noqa: E402

GENERIC = ["Jaya", "Abadi", "Makmur", "Mandiri", "Sejahtera", "Sentosa", "Karya", "Bersama", "Utama", "Mulia",
           "Sukses", "Perkasa", "Sinar", "Mitra", "Prima", "Lestari"]
FORMS = ["PT", "CV", "Yayasan", "LPK", "PT", "PT"]


def word(rng: random.Random) -> str:
    return "".join(rng.choice("bcdghjklmnprstwy") + rng.choice("aaeiou") for _ in range(rng.choice([2, 3, 3]))).capitalize()


def make_watchlist(n: int, seed: int = 7) -> tuple[str, list[tuple[str, str]]]:
    """A watchlist CSV of n entries (firms and people, names of made-up words as
    bench/screening.py makes them) and each entry's (name, phone)."""
    rng = random.Random(seed)
    vocabulary = sorted({word(rng) for _ in range(max(2000, n // 8))})
    first_names = sorted({word(rng) for _ in range(400)})
    last_names = sorted({word(rng) for _ in range(max(3000, n // 20))})
    rows, listed = ["id,kind,name,aliases,phones,license_numbers,notes"], []
    for i in range(n):
        phone = f"0812{i:08d}"
        if i % 2:
            name = f"{rng.choice(FORMS)} {' '.join(rng.sample(vocabulary, rng.choice([1, 2])))} {rng.choice(GENERIC)}"
            kind = "agency"
        else:
            name, kind = f"{rng.choice(first_names)} {rng.choice(last_names)}", "person"
        rows.append(f"feed-{i:07d},{kind},{name},,{phone},,")
        listed.append((name, phone))
    return "\n".join(rows) + "\n", listed


# Unlisted firms are named with real words (listed names are made-up ones: near neighbours of
# each other, far from these)
COMPANIES = ["Anugerah", "Bintang", "Cemerlang", "Gemilang", "Harapan", "Kencana", "Nirwana", "Pelita", "Rahayu",
             "Surya", "Tunas", "Wijaya", "Berkah", "Cipta", "Dharma", "Gemintang", "Insan", "Langgeng", "Persada"]
JOBS = ["operator pabrik", "caregiver", "pekerja konstruksi", "ABK kapal ikan", "admin gudang", "pelayan restoran",
        "perawat lansia", "sopir", "buruh kebun sawit", "pekerja hotel"]
PLACES = ["Taiwan", "Malaysia", "Korea Selatan", "Jepang", "Hong Kong", "Singapura", "Cilacap", "Jakarta"]
SENTENCES = [
    "Dibutuhkan segera {n} orang {job} untuk penempatan {place}.",
    "Gaji mulai {gaji} juta per bulan, lembur dibayar.",
    "Syarat: usia 18-35 tahun, sehat jasmani dan rohani, minimal lulusan SMP.",
    "Kontrak kerja dua tahun dan bisa diperpanjang.",
    "Mess dan makan disediakan oleh perusahaan.",
    "Proses cepat, berangkat bulan depan.",
    "Pendaftaran dibuka sampai akhir bulan ini.",
    "Interview langsung di kantor cabang kami.",
]
RED_FLAGS = [
    "Ada biaya administrasi {gaji} juta sebelum berangkat.",
    "Tidak perlu pengalaman, tanpa tes, langsung berangkat.",
    "Berangkat pakai visa turis, nanti diurus di sana.",
    "Paspor dipegang agensi selama kontrak.",
]


def make_ads(path: Path, ads: int, listed: list[tuple[str, str]], share: float, seed: int = 11) -> dict[int, int]:
    """The feed file; returns {ad number: listed entry number} for the ads that name an entry:
    half by the listed number in the ad's text, half by the listed name as the hiring firm.
    An alert for any other ad is counted as `unexpected`."""
    rng = random.Random(seed)
    named: dict[int, int] = {}
    with path.open("w") as out:
        for i in range(ads):
            job, place = rng.choice(JOBS), rng.choice(PLACES)
            text = [s.format(n=rng.randint(2, 40), job=job, place=place, gaji=rng.randint(5, 30))
                    for s in rng.sample(SENTENCES, 5)]
            if rng.random() < 0.3:
                text.append(rng.choice(RED_FLAGS).format(gaji=rng.randint(5, 30)))
            company = f"PT {' '.join(rng.sample(COMPANIES, 2))} {rng.choice(GENERIC)}"
            phone = f"0857{rng.randrange(10**8):08d}"
            if rng.random() < share:
                entry = rng.randrange(len(listed))
                named[i] = entry
                if i % 2:
                    phone = listed[entry][1]
                else:
                    company = listed[entry][0]
            text.append(f"Hubungi WA {phone}.")
            posting = {"@context": "https://schema.org", "@type": "JobPosting",
                       "title": f"Lowongan {job} {place}", "description": "<p>" + "</p><p>".join(text) + "</p>",
                       "datePosted": "2026-12-0" + str(1 + i % 4), "url": f"https://loker.example/iklan/{i}",
                       "hiringOrganization": {"@type": "Organization", "name": company},
                       "jobLocation": {"@type": "Place", "address": {"addressLocality": place}}}
            out.write(json.dumps(posting, ensure_ascii=False) + "\n")
    return named


def trace_stages(database_url: str, started: float):
    """Every 2 s on stderr: reports stored, screened by the matcher, on their timeline, and the
    outbox rows each service has yet to publish; where a backlog grows is the slow stage."""
    import threading

    engine = make_engine(database_url)
    stop = threading.Event()
    queries = {"stored": "SELECT count(*) FROM reports WHERE channel = 'feed'",
               "screened": "SELECT count(*) FROM matcher_screened_reports",
               "timeline": "SELECT count(*) FROM reports WHERE channel = 'feed' AND screened_at IS NOT NULL"}

    def run() -> None:
        while not stop.wait(2.0):
            try:
                with engine.connect() as c:
                    counts = {k: c.execute(text(q)).scalar() for k, q in queries.items()}
                    pending = dict(c.execute(text("SELECT origin, count(*) FROM outbox WHERE published_at IS NULL "
                                                  "GROUP BY origin")).all())
                print(f"t={time.time() - started:5.1f}s " + " ".join(f"{k}={v}" for k, v in counts.items())
                      + f" outbox_pending={pending}", file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - tracing never stops the bench
                print(f"trace: {exc}", file=sys.stderr)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join()
        engine.dispose()

    return finish


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--listed", type=float, default=0.02, help="share of ads naming a listed entry")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--trace", action="store_true", help="print each stage's progress every 2 s (stderr)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="waspada-bench-feed-"))
    sinks = start_sinks(folder / "sinks")
    arrivals = record_sms_arrivals(sinks, clock=time.time)  # wall clock: compared with stored times
    database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    stack = Stack(folder / "home", database_url, sinks,
                  extra_env={"WASPADA_SMS_PER_S": "500", "WASPADA_RATE_LIMIT_PER_S": "100",
                             "WASPADA_RATE_LIMIT_BURST": "200"})
    feed = folder / "ads.jsonl"
    watchlist, listed = make_watchlist(args.entries)
    named = make_ads(feed, args.ads, listed, args.listed)
    try:
        stack.start()
        stack.api.timeout = 600
        stack.api.post("/v1/watchlist/import", content=watchlist.encode(),
                       headers={"Content-Type": "text/csv"}).raise_for_status()
        stack.api.post("/v1/agencies", json={"name": "Polresta Cilacap", "code": "polresta", "emails": [],
                                             "phones": ["+6281100000001"], "receives": ["watchlist_match"]})
        last = listed[-1][1]
        probe = stack.api.post("/v1/reports", json={"channel": "web", "phones": [last]}).json()["id"]
        wait_for(lambda: stack.api.get(f"/v1/reports/{probe}").json()["matches"], 600, interval_s=0.5,
                 what="the whole watchlist indexed by the matcher")
        wait_for(lambda: arrivals, 60, what="the probe's alert")
        # The import's entries are re-screened against recent reports (retro-screening) after
        # they are indexed: let that finish, it is not the feed's work
        engine = make_engine(database_url)
        with engine.connect() as c:
            claims = "SELECT count(*) FROM matcher_retro_claims"
            wait_for(lambda: c.execute(text(claims)).scalar() >= args.entries, 600, interval_s=0.5,
                     what="retro-screening of the imported watchlist")
        engine.dispose()
        time.sleep(3.0)
        arrivals.clear()
        token = stack.token("operator")

        started = time.time()
        stop_tracing = trace_stages(database_url, started) if args.trace else None
        done = subprocess.run(stack.waspada("feed", "import", str(feed), "--source", "bench", "--no-progress"),
                              env=dict(stack.env, WASPADA_TOKEN=token, WASPADA_API_URL=stack.base_url), cwd=REPO,
                              capture_output=True, text=True, timeout=3600)
        imported = time.time()
        if done.returncode != 0:
            raise SystemExit(f"feed import failed ({done.returncode}): {done.stdout}{done.stderr[-2000:]}")

        engine = make_engine(database_url)
        sessions = make_sessionmaker(engine)
        feed_reports = select(func.count()).select_from(ReportRow).where(ReportRow.channel == "feed")

        def all_screened():
            with sessions() as s:
                return s.scalar(feed_reports.where(ReportRow.screened_at.is_(None))) == 0

        wait_for(all_screened, 1200, interval_s=0.2, what="every ad screened")
        screened = time.time()
        if stop_tracing:
            stop_tracing()
        with sessions() as s:
            rows = s.execute(select(FeedAdRow.url, ReportRow.id, ReportRow.received_at)
                             .join(ReportRow, ReportRow.id == FeedAdRow.report_id)).all()
        engine.dispose()
        received = {rid.removeprefix("rpt_")[:8]: at.timestamp() for _, rid, at in rows}
        ad_ref = {int(url.rsplit("/", 1)[1]): rid.removeprefix("rpt_")[:8] for url, rid, _ in rows}
        expected = {ad_ref[i] for i in named if i in ad_ref}
        try:
            wait_for(lambda: expected <= set(arrivals), 120, interval_s=0.5)
        except AssertionError:
            pass
        time.sleep(2.0)  # late duplicates would show here
        latencies = [(arrivals[ref][0] - received[ref]) * 1000 for ref in expected if arrivals.get(ref)]
        unexpected = sum(1 for ref in arrivals if ref in received and ref not in expected)
        duplicates = sum(len(times) - 1 for ref, times in arrivals.items() if ref in received)
        print(f"feed ads={len(rows)} ads_per_s={len(rows) / (screened - started):.0f} alerts={len(latencies)} "
              f"alert_p99_ms={percentile(latencies, 0.99):.0f} lost={len(named) - len(latencies)} "
              f"duplicates={duplicates} unexpected={unexpected} alert_p50_ms={percentile(latencies, 0.5):.0f} "
              f"import_s={imported - started:.1f} screened_s={screened - started:.1f}")
    finally:
        stack.stop()
        sinks.stop()


if __name__ == "__main__":
    main()
