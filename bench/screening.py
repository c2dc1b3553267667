"""Screening speed and memory at watchlist sizes N, against a naive rapidfuzz WRatio scan.

    python bench/screening.py [--sizes 10000,100000,1000000] [--reports 20000]

Each size runs in its own process (so RSS is that size's alone) and prints one line:
    screening entries=N reports=M reports_per_s=... p99_ms=... rss_mb=... naive_reports_per_s=... speedup=... build_s=...
The naive baseline (WRatio of every report name against every listed name and alias) is run
on a sample of reports and its rate extrapolated ("naive_sample=K" says how many).
Goals (not asserted anywhere): >= 5,000 reports/s on one core at 100k entries; per-report time
grows <= 2x from 10k to 1M; 1M-entry index <= 1 GiB RSS; 100k-entry build < 5 s."""
from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONSONANTS = "bcdghjklmnprstwy"
VOWELS = "aaeiou"
GENERIC = ["Jaya", "Abadi", "Makmur", "Mandiri", "Sejahtera", "Sentosa", "Karya", "Bersama", "Utama", "Mulia",
           "Sukses", "Perkasa", "Sinar", "Mitra", "Prima", "Lestari"]
FORMS = ["PT", "CV", "Yayasan", "LPK", "PT", "PT"]
PREFIXES = ["0812", "0813", "0821", "0852", "0857", "0878", "0819", "0896"]
AD_WORDS = ("lowongan kerja luar negeri pabrik operator gaji besar proses cepat hubungi kami segera daftar "
            "syarat ringan usia minimal tahun pengalaman tidak perlu berangkat bulan depan info lengkap").split()


def word(rng: random.Random) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.choice([2, 3, 3]))).capitalize()


def generate(n: int, reports: int, seed: int = 7):
    """(entries, reports, seconds spent making entries). `entries` is a generator: the index is
    measured, not a million pydantic objects held beside it; reports are drawn from compact
    (name, phone) pairs."""
    from shared.schemas import ReportContent, WatchlistEntry

    rng = random.Random(seed)
    vocabulary = sorted({word(rng) for _ in range(max(2000, n // 8))})  # sorted: same data every run
    first_names = sorted({word(rng) for _ in range(400)})
    last_names = sorted({word(rng) for _ in range(max(3000, n // 20))})
    listed: list[tuple | None] = []
    making = [0.0]
    for i in range(n):
        phone = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
        if i % 2:
            name = f"{rng.choice(FORMS)} {' '.join(rng.sample(vocabulary, rng.choice([1, 2])))} " \
                   f"{' '.join(rng.sample(GENERIC, rng.choice([1, 2])))}"
            aliases = []
        else:
            name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
            aliases = [rng.choice(first_names)] if i % 10 == 0 else []
        listed.append((name, phone, "agency" if i % 2 else "person", aliases))
    batch = []
    for _ in range(reports):
        kind = rng.random()
        ad = " ".join(rng.choices(AD_WORDS, k=30))
        name, phone = rng.choice(listed)[:2]
        if kind < 0.3:
            batch.append(ReportContent(agency_names=[name.lower()], ad_text=ad))
        elif kind < 0.5:
            batch.append(ReportContent(recruiter_names=[name], phones=[phone]))
        elif kind < 0.65:
            batch.append(ReportContent(ad_text=f"{ad} hubungi {name} WA {phone}"))
        else:
            batch.append(ReportContent(agency_names=[f"PT {word(rng)} {rng.choice(GENERIC)}"],
                                       recruiter_names=[f"{rng.choice(first_names)} {word(rng)}"], ad_text=ad))

    def entries():
        for i in range(len(listed)):
            name, phone, kind, aliases = listed[i]
            listed[i] = None  # freed as the index takes it
            t0 = time.perf_counter()
            entry = WatchlistEntry(id=f"e{i}", kind=kind, name=name, aliases=aliases, phones=[phone])
            making[0] += time.perf_counter() - t0  # building the index excludes making the entries
            yield entry

    return entries(), batch, making


def run_one(n: int, reports: int, naive_sample: int) -> None:
    from rapidfuzz import fuzz, process

    from services.matcher.screening import ScreeningEngine

    entries, batch, making = generate(n, reports)
    start = time.perf_counter()
    engine = ScreeningEngine(entries)
    build_s = time.perf_counter() - start - making[0]
    timings = []
    start = time.perf_counter()
    for report in batch:
        t0 = time.perf_counter()
        engine.screen(report)
        timings.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The naive scan reads the names the index holds (no second copy of a million names)
    names = [name.original for entry in engine.index.entries.values() for name in entry.all_names()]
    sample = batch[:naive_sample]
    start = time.perf_counter()
    for report in sample:
        for query in [*report.agency_names, *report.recruiter_names, report.ad_text]:
            if query:
                process.extractOne(query, names, scorer=fuzz.WRatio, score_cutoff=90)
    naive_rate = len(sample) / (time.perf_counter() - start)
    timings.sort()
    rate = len(batch) / elapsed
    print(f"screening entries={n} reports={len(batch)} reports_per_s={rate:.0f} "
          f"p99_ms={timings[int(0.99 * (len(timings) - 1))] * 1000:.2f} rss_mb={rss_mb:.0f} "
          f"naive_reports_per_s={naive_rate:.2f} speedup={rate / naive_rate:.0f} build_s={build_s:.1f} "
          f"naive_sample={len(sample)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reports", type=int, default=20000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--naive-sample", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.reports, args.naive_sample)
        return
    for n in (int(s) for s in args.sizes.split(",")):
        sample = max(5, min(200, 2_000_000 // n))
        subprocess.run([sys.executable, __file__, "--one", str(n), "--reports", str(args.reports),
                        "--naive-sample", str(sample)], check=True)


if __name__ == "__main__":
    main()
