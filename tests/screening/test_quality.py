"""Screening quality on the labelled evaluation set: precision and recall at the default
threshold, counted over (report, entry) pairs. A naive rapidfuzz WRatio scan is printed for
comparison (not asserted)."""
from __future__ import annotations

from collections import Counter

from rapidfuzz import fuzz

from services.matcher.screening import DEFAULT_THRESHOLD, ScreeningEngine
from shared.schemas import ReportContent
from tests.screening.evalset import build


def _metrics(predictions: list[set[str]], cases) -> tuple[float, float, float, Counter]:
    tp = fp = fn = 0
    misses: Counter = Counter()
    for predicted, case in zip(predictions, cases):
        expected = {case.expected} if case.expected else set()
        tp += len(predicted & expected)
        fp += len(predicted - expected)
        fn += len(expected - predicted)
        if predicted != expected:
            misses[case.label] += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, misses


def naive_wratio(entries, report: dict, cutoff: float = 90) -> set[str]:
    texts = report.get("agency_names", []) + report.get("recruiter_names", [])
    if report.get("ad_text"):
        texts.append(report["ad_text"])
    found = set()
    for entry in entries:
        for name in [entry.name, *entry.aliases]:
            if any(fuzz.WRatio(name, text) >= cutoff for text in texts):
                found.add(entry.id)
    return found


def test_precision_and_recall_at_default_threshold():
    entries, cases = build()
    engine = ScreeningEngine(entries)
    predictions = [{m.entry_id for m in engine.screen(ReportContent(**c.report)).matches} for c in cases]
    precision, recall, f1, misses = _metrics(predictions, cases)
    naive = _metrics([naive_wratio(entries, c.report) for c in cases], cases)
    positives = sum(1 for c in cases if c.expected)
    print(f"\nscreening eval cases={len(cases)} positives={positives} threshold={DEFAULT_THRESHOLD} "
          f"precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} | naive WRatio: precision={naive[0]:.3f} "
          f"recall={naive[1]:.3f} f1={naive[2]:.3f}")
    print("misses by variation:", dict(misses))
    assert len(cases) >= 500 and positives >= 300
    assert precision >= 0.98, misses
    assert recall >= 0.98, misses
    assert f1 >= 0.98
