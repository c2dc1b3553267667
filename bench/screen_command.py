"""The whole `waspada screen` process, as a user runs it: start-up, reading and checking the
watchlist CSV, building the index, screening every report, writing every line.

    python bench/screen_command.py [--entries 100000] [--reports 20000]

Writes the watchlist and reports (bench/screening.py's generator) to a temporary folder, runs
the command once and prints:
    screen_command entries=N reports=M seconds=... reports_per_s=... startup_build_s=...
(startup_build_s: the same command with no reports). Goal (not asserted anywhere): >= 3,000
reports/s over 100k entries and 20k reports."""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def write_set(folder: Path, entries: int, reports: int) -> None:
    from screening import generate

    listed, batch, _ = generate(entries, reports)
    with open(folder / "watchlist.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "kind", "name", "aliases", "phones", "license_numbers", "notes"])
        for entry in listed:
            writer.writerow([entry.id, entry.kind.value, entry.name, ";".join(entry.aliases), ";".join(entry.phones),
                             "", ""])
    with open(folder / "reports.jsonl", "w", encoding="utf-8") as handle:
        for number, report in enumerate(batch):
            handle.write(json.dumps({"id": f"r{number}", **report.model_dump(mode="json", exclude_defaults=True)}) + "\n")
    (folder / "none.jsonl").write_text("")


def run(folder: Path, reports: str) -> float:
    command = [sys.executable, "-m", "services.cli", "screen", "--watchlist", str(folder / "watchlist.csv")]
    started = time.perf_counter()
    with open(folder / reports, "rb") as stdin:
        done = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr.decode()[-2000:])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_set(folder, args.entries, args.reports)
        seconds = run(folder, "reports.jsonl")
        startup = run(folder, "none.jsonl")
    print(f"screen_command entries={args.entries} reports={args.reports} seconds={seconds:.1f} "
          f"reports_per_s={args.reports / seconds:.0f} startup_build_s={startup:.1f}", flush=True)


if __name__ == "__main__":
    main()
