"""Watchlist CSV import through the admin API, against the real stack.

    python bench/watchlist_import.py [--rows 100000] [--database-url postgresql://...]

Generates a CSV of N entries (agencies and people, with aliases, phones and licence numbers),
POSTs it to /v1/watchlist/import, then exports it back. Prints one line:
    import rows=... seconds=... rows_per_s=... export_seconds=... exported_rows=... body_mb=...
Goal (not asserted): 100k rows in under 30 s."""
from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.harness import Stack, start_sinks  # noqa: E402

WORDS = ["Sinar", "Jaya", "Makmur", "Abadi", "Sentosa", "Mandiri", "Karya", "Bahari", "Samudra", "Cahaya",
         "Lintas", "Benua", "Putra", "Utama", "Sejahtera", "Global", "Nusantara", "Tenaga", "Prima", "Insani"]
FIRST = ["Budi", "Siti", "Agus", "Dewi", "Joko", "Sri", "Bambang", "Wati", "Eko", "Rina", "Hadi", "Yuni"]


def make_csv(rows: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "kind", "name", "aliases", "phones", "license_numbers", "notes"])
    for i in range(rows):
        if i % 3:
            name = "PT " + " ".join(rng.sample(WORDS, 3)) + f" {i}"
            kind, aliases = "agency", f"CV {name[3:]}"
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(WORDS)}wati {i}"
            kind, aliases = "person", f"Pak {name.split()[0]}"
        # Lean rows: 100k of them must fit the 10 MiB import limit.
        writer.writerow([f"bench-{i:07d}", kind, name, aliases if i % 4 == 0 else "", f"+62812{i:08d}",
                         f"KEP.{i}/2020" if i % 2 else "", ""])
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="waspada-bench-import-"))
    sinks = start_sinks(folder / "sinks")
    stack = Stack(folder / "home", args.database_url or f"sqlite:///{folder / 'bench.db'}", sinks)
    try:
        stack.start()
        text = make_csv(args.rows)
        stack.api.timeout = 600
        start = time.monotonic()
        response = stack.api.post("/v1/watchlist/import", content=text.encode(), headers={"Content-Type": "text/csv"})
        seconds = time.monotonic() - start
        response.raise_for_status()
        assert response.json()["created"] == args.rows, response.text
        start = time.monotonic()
        exported = stack.api.get("/v1/watchlist/export").text
        export_seconds = time.monotonic() - start
        ours = [line for line in exported.splitlines() if line.startswith("bench-")]
        print(f"import rows={args.rows} seconds={seconds:.1f} rows_per_s={args.rows / seconds:.0f} "
              f"export_seconds={export_seconds:.1f} exported_rows={len(ours)} body_mb={len(text) / 2**20:.1f}")
    finally:
        stack.stop()
        sinks.stop()


if __name__ == "__main__":
    main()
