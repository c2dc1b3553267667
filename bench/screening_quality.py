"""Screening quality on a labelled set, measured the way a user meets it: the `waspada screen`
command, a whole process, at the alert threshold and at the review threshold.

    python bench/screening_quality.py DIR [DIR ...] [--classes]

DIR holds watchlist.csv, reports.jsonl, truth.json (report id -> entry ids that must match) and,
optionally, classes.json (report id -> variation class), as ../shared/screening-dev does.
Pairs of (report, entry) are counted: a predicted pair the set lists is a true positive. Prints,
per set, one line (and with --classes one line per class before it):
    quality set=NAME precision=... recall=... f1=... review_recall=... reports=... seconds=...
Goals (not asserted anywhere): precision, recall and F1 >= 0.98 at the alert threshold; recall
at the review threshold >= 0.995 on plain sets, >= 0.98 on hard ones."""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def screen(setdir: Path, *options: str) -> dict[str, set[str]]:
    command = [sys.executable, "-m", "services.cli", "screen", "--watchlist", str(setdir / "watchlist.csv"), *options]
    with open(setdir / "reports.jsonl", "rb") as reports:
        done = subprocess.run(command, stdin=reports, capture_output=True, check=False, cwd=ROOT)
    if done.returncode not in (0, 1):  # 1: some report lines were refused, and said so
        raise SystemExit(f"waspada screen failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    found = {}
    for line in done.stdout.decode().splitlines():
        row = json.loads(line)
        if row.get("report_id") is not None:
            found[str(row["report_id"])] = {m["entry_id"] for m in row["matches"]}
    return found


def measure(setdir: Path, show_classes: bool) -> None:
    from services.matcher.screening.model import REVIEW_THRESHOLD

    truth = {k: set(v) for k, v in json.loads((setdir / "truth.json").read_text()).items()}
    classes_file = setdir / "classes.json"
    classes = json.loads(classes_file.read_text()) if classes_file.exists() else {k: "all" for k in truth}
    started = time.perf_counter()
    alert = screen(setdir)
    seconds = time.perf_counter() - started
    review = screen(setdir, "--min-score", str(REVIEW_THRESHOLD))
    per = collections.defaultdict(lambda: [0, 0, 0, 0, 0])  # reports, tp, fp, fn, review tp
    for report_id, want in truth.items():
        got, possible = alert.get(report_id, set()), review.get(report_id, set())
        row = per[classes.get(report_id, "all")]
        row[0] += 1
        row[1] += len(got & want)
        row[2] += len(got - want)
        row[3] += len(want - got)
        row[4] += len(possible & want)
    if show_classes:
        for name in sorted(per, key=lambda n: (n.startswith("neg_"), n)):
            n, tp, fp, fn, rtp = per[name]
            print(f"class={name} reports={n} tp={tp} fp={fp} fn={fn} "
                  f"precision={tp / (tp + fp) if tp + fp else 1:.3f} recall={tp / (tp + fn) if tp + fn else 1:.3f} "
                  f"review_recall={rtp / (tp + fn) if tp + fn else 1:.3f}")
    tp, fp, fn, rtp = (sum(row[i] for row in per.values()) for i in (1, 2, 3, 4))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"quality set={setdir.name} precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} "
          f"review_recall={rtp / (tp + fn) if tp + fn else 1:.3f} reports={len(truth)} seconds={seconds:.1f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--classes", action="store_true", help="a line per variation class as well")
    args = parser.parse_args()
    for setdir in args.sets:
        measure(setdir, args.classes)


if __name__ == "__main__":
    main()
