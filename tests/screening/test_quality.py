"""Screening quality on the project's own labelled set (evalset.py), class by class: precision
and recall at the alert threshold, recall at the review threshold, counted over (report, entry)
pairs. The figures are printed (pytest -s), and each class is held to a floor.

This set is written by the project; the independent development set (../shared/screening-dev,
bench/screening_quality.py) and data nobody in the project wrote are what the engine is judged
on. A naive rapidfuzz WRatio scan is printed beside it for comparison (not asserted)."""
from __future__ import annotations

from collections import defaultdict

from rapidfuzz import fuzz, process

from services.matcher.screening import ScreeningEngine, model
from shared.schemas import ReportContent
from tests.screening.evalset import build

# The least each class must keep at the alert threshold (a floor below what it measures, so
# that a change losing a class fails here before the development set shows it)
RECALL_FLOOR = {"two_typos": 0.8, "two_typos@text": 0.75, "dropped_middle": 0.85, "dropped_middle@text": 0.8}
DEFAULT_RECALL_FLOOR = 0.9
PRECISION_FLOOR = 0.97  # per negative class: the share of its reports raising no alert


def _pairs(predicted: list[set[str]], cases) -> dict[str, list[int]]:
    per = defaultdict(lambda: [0, 0, 0, 0])  # reports, tp, fp, fn
    for got, case in zip(predicted, cases):
        want = {case.expected} if case.expected else set()
        row = per[case.label]
        row[0] += 1
        row[1] += len(got & want)
        row[2] += len(got - want)
        row[3] += len(want - got)
    return per


def _totals(per) -> tuple[float, float, float]:
    tp, fp, fn = (sum(row[i] for row in per.values()) for i in (1, 2, 3))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def test_precision_and_recall_hold_in_every_variation_class():
    entries, cases = build()
    engine = ScreeningEngine(entries)
    alert, review = [], []
    for case in cases:
        matches = engine.screen(ReportContent(**case.report), min_score=model.REVIEW_THRESHOLD).matches
        review.append({m.entry_id for m in matches})
        alert.append({m.entry_id for m in matches if m.score >= model.ALERT_THRESHOLD})
    per, per_review = _pairs(alert, cases), _pairs(review, cases)
    print()
    for label in sorted(per, key=lambda name: (name.startswith("neg_"), name)):
        n, tp, fp, fn = per[label]
        review_tp = per_review[label][1]
        print(f"class={label} reports={n} tp={tp} fp={fp} fn={fn} recall={tp / (tp + fn) if tp + fn else 1:.3f} "
              f"review_recall={review_tp / (tp + fn) if tp + fn else 1:.3f}")
    precision, recall, f1 = _totals(per)
    review_recall = _totals(per_review)[1]
    names = [name for entry in entries for name in [entry.name, *entry.aliases]]
    owners = [entry.id for entry in entries for _ in [entry.name, *entry.aliases]]
    naive = []
    for case in cases:
        found = set()
        for text in [*case.report.get("agency_names", []), *case.report.get("recruiter_names", []),
                     case.report.get("ad_text", "")]:
            if text:
                best = process.extractOne(text, names, scorer=fuzz.WRatio, score_cutoff=90)
                if best:
                    found.add(owners[best[2]])
        naive.append(found)
    naive_totals = _totals(_pairs(naive, cases))
    print(f"own set cases={len(cases)} precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} "
          f"review_recall={review_recall:.3f} | naive WRatio f1={naive_totals[2]:.3f}")
    assert len(per) >= 40 and len(cases) >= 1500
    failing = {}
    for label, (n, tp, fp, fn) in per.items():
        if label.startswith("neg_"):
            if (n - fp) / n < PRECISION_FLOOR:
                failing[label] = f"{fp} false alerts in {n}"
        elif tp / (tp + fn) < RECALL_FLOOR.get(label, DEFAULT_RECALL_FLOOR):
            failing[label] = f"recall {tp / (tp + fn):.3f}"
    assert not failing, failing
    assert precision >= 0.98 and recall >= 0.97 and review_recall >= 0.98
