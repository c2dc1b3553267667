"""The screening engine: a report's names and identifiers against the watchlist.

A report is screened as a chain of steps:
  1. names in the name fields (agency_names as firms, recruiter_names as persons), each read
     as written and, where words are run together or split, as the listed words they make;
  2. identifiers: phones, licences, handles, URLs in their fields and in the ad text;
  3. names read out of the ad text (ad_names.py), screened like the name fields;
  4. settling: a part of a name that several listed names hold alike says none of them for
     sure (ambiguous_part); text or a value that one listed name explains clearly better than
     another is evidence for that one only;
  5. per entry, the best evidence of each kind joined by noisy-or: independent kinds reinforce
     each other, repeats of one kind do not; the entry is a match at or above the alert
     threshold, a possible match (band "review") at or above the review threshold.
Candidates come from blocking.py, scores from the kernel, the features that explain a score
from scoring.py (model.py names them all)."""
from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.matcher.screening import model
from services.matcher.screening.ad_names import names_in_text, warm_up as warm_up_ad_names
from services.matcher.screening.blocking import block, query_flags
from shared.identifiers import (
    handle_key, handles_in_text, licence_candidates_in_text, licence_key, phone_key, phones_in_text,
    url_key, urls_in_text)
from services.matcher.screening.index import EntryRecord, NameIndex, NameRecord
from services.matcher.screening.indicators import find_indicators, warm_up as warm_up_indicators
from services.matcher.screening.normalize import is_generic, is_place, name_key, warm_up as warm_up_names
from services.matcher.screening.risk import assess
from services.matcher.screening.scoring import Alignment, FeatureScore, QueryWord, features, readings, split_joined
from shared.schemas import (
    EntryKind, Evidence, EvidenceFeature, Indicator, Match, MatchBand, ReportContent, RiskLevel, WatchlistEntry)
from shared.suppression import suppression_key

DEFAULT_THRESHOLD = model.ALERT_THRESHOLD
BIG_BUILD = 10_000  # entries: a build this big is kept out of the garbage collector's walks
IDENTIFIERS = (  # evidence kind, report field, key of a field value, finder in ad text, score
    ("phone", "phones", phone_key, phones_in_text, model.PHONE),
    ("licence", "license_numbers", licence_key, licence_candidates_in_text, model.LICENCE),
    ("handle", "social_handles", handle_key, handles_in_text, model.HANDLE),
    ("url", "urls", url_key, urls_in_text, model.URL),
)


@dataclass
class Screening:
    matches: list[Match]  # both bands, at or above the screen's min_score
    indicators: list[Indicator]
    categories: list[str]  # from the matches of the alert band only
    risk_level: RiskLevel


@dataclass(slots=True)
class _NameHit:
    """A listed name found for one report value: a name field's value or a name in the ad."""
    score: float
    field: str
    value: str  # as the report wrote it
    region: tuple[int, int] | str  # the ad text's characters, or the field value: what it explains
    name: NameRecord
    reading: list[QueryWord]
    groups: list  # the reading's words as the kernel read them (NameIndex.similar_postings)
    context: tuple  # form id, want_person, in_text: how it was scored
    partial: bool
    ambiguous: bool = False
    settled: bool = False  # the kernel settled its value already (its only reading)

    def explain(self, index: NameIndex) -> list[FeatureScore]:
        """The features behind the score (scoring.features), from how the kernel scored it."""
        form, want_person, in_text = self.context
        score, base, pairs, middle, differing, form_differs, kind_differs = index.store.explain(
            self.name.slot, tuple(self.groups), [w.idf for w in self.reading], query_flags(self.reading), form,
            want_person, in_text)
        found = features(self.reading, list(self.name.tokens),
                         Alignment(pairs, base, middle, differing, form_differs, kind_differs),
                         listed_person=self.name.entry.person, query_form=index.form_name(form),
                         listed_form=self.name.form, in_text=in_text)
        if self.ambiguous:
            found.append(FeatureScore("ambiguous_part", model.AMBIGUOUS_PART, "other listed names are alike to it"))
        return found


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Building an index makes millions of objects and frees almost none: each full collection
    the allocations trigger walks all of them again for nothing (a third of a 100k build)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def warm_up() -> None:
    """Load the rule tables (place names alone take most of a second) before the first report
    rather than during it."""
    warm_up_names()
    warm_up_indicators()
    warm_up_ad_names()


class ScreeningEngine:
    def __init__(self, entries: Iterable[WatchlistEntry] = (), *, expected: int = 0) -> None:
        """expected: how many entries the build will hold, when known (room made once)."""
        warm_up()
        self.index = NameIndex()
        if expected:
            self.index.reserve(expected)
        with _collector_paused():
            for entry in entries:
                self.index.upsert(entry)
        if len(self.index.entries) >= BIG_BUILD:
            # The index lives as long as the process and holds no garbage: keep the collector
            # off it. Left in its generations, every full collection walks all of it again
            # (0.25 s at 100k entries, 2 s at 1M, whenever the query caches have grown by a
            # quarter). close() unlinks its cycles so that it can still be freed. No collection
            # first: the build made next to no garbage, and one would walk it all once more.
            gc.freeze()
        self._words: dict[str, tuple[float, bool, bool, bool]] = {}  # key -> idf, listed, generic, place
        self._splits: dict[str, list | None] = {}  # surface -> split_joined(surface)
        self._words_generation = -1

    def upsert(self, entry: WatchlistEntry) -> None:
        self.index.upsert(entry)

    def remove(self, entry_id: str) -> None:
        self.index.remove(entry_id)

    def close(self) -> None:
        """Let the index go (NameIndex.close): a big build was frozen out of the collector's
        reach. The engine screens against nothing afterwards."""
        self.index.close()
        self.index = NameIndex()

    def __len__(self) -> int:
        return len(self.index.entries)

    # ------------------------------------------------------------------ screening

    def screen(self, report: ReportContent, *, min_score: float | None = None,
               only_entry_ids: Collection[str] | None = None,
               suppressed: Collection[tuple[str, str]] = ()) -> Screening:
        """min_score: the lowest score listed (default: the alert threshold; the review
        threshold lists possible matches too). suppressed: (entry id, suppression_key(report
        value)) pairs a reviewer ruled false positives; such evidence is not counted."""
        threshold = DEFAULT_THRESHOLD if min_score is None else min_score
        # Name evidence below the review threshold counts for nothing a user sees (unless a
        # lower min_score asks for it); the margin below that lets settling see what could make
        # a possible match ambiguous. A higher cutoff also narrows blocking.
        cutoff = max(model.MIN_NAME_SCORE, min(threshold, model.REVIEW_THRESHOLD) - model.EXPLANATION_MARGIN)
        # a name that another explains clearly better is left out in the kernel already, unless
        # a reviewer's ruling may take the better one out (then settling decides, after it)
        margin = -1.0 if suppressed else model.EXPLANATION_MARGIN + 0.0001
        hits: list[_NameHit] = []
        for field_name, person in (("agency_names", False), ("recruiter_names", True)):
            for value in getattr(report, field_name):
                key = name_key(value, agency=not person)
                words = [self._word(t, s, t) for t, s in zip(key.tokens, key.surface)]
                want = 1 if person or key.titled else 0
                hits += self._name_hits(words, (self.index.form_id(key.form), want, False), field_name, value, value,
                                        margin, cutoff)
        text = report.ad_text or ""
        if text:
            index = self.index
            for found in names_in_text(text, listed=index.token_ids.__contains__, near_listed=index.near_listed):
                words = [self._word(w.key, w.surface, w.written, w.weak) for w in found.words]
                want = 1 if found.titled else (0 if found.form else -1)
                hits += self._name_hits(words, (index.form_id(found.form), want, True), "ad_text",
                                        text[found.start:found.end], (found.start, found.end), margin, cutoff)

        evidence: dict[str, dict[str, tuple]] = {}  # entry id -> evidence kind -> (score, hit or identifier evidence)
        if suppressed:  # a ruled-out explanation no longer competes with the others
            hits = [h for h in hits if (h.name.entry.id, suppression_key(h.value)) not in suppressed]
        for hit in _settled(hits, cutoff):
            entry = hit.name.entry
            if only_entry_ids is None or entry.id in only_entry_ids:
                # one kind, wherever the name was written: the same name twice is not two pieces of evidence
                held = evidence.setdefault(entry.id, {}).get("name")
                if held is None or hit.score > held[0]:
                    evidence[entry.id]["name"] = (hit.score, hit)

        def allowed(entry: EntryRecord, value: str) -> bool:
            if only_entry_ids is not None and entry.id not in only_entry_ids:
                return False
            return not (suppressed and (entry.id, suppression_key(value)) in suppressed)

        for kind, field_name, to_key, in_text, score, entry, value, listed, source in self._identifier_hits(report):
            if allowed(entry, value):
                held = evidence.setdefault(entry.id, {}).get(kind)
                if held is None or score > held[0]:
                    feature = model.FEATURE[kind if score == getattr(model, kind.upper()) else "url_domain"]
                    evidence[entry.id][kind] = (score, Evidence.model_construct(
                        field=source, report_value=value, entry_value=listed, method=f"exact_{kind}", score=score,
                        features=[EvidenceFeature.model_construct(name=feature.name, value=score,
                                                                  detail=feature.explanation)]))

        matches = []
        for entry_id, kinds in evidence.items():
            miss = 1.0
            for score, _ in kinds.values():
                miss *= 1.0 - score
            score = round(1.0 - miss, 4)
            if score < threshold:
                continue
            entry = self.index.entries[entry_id]
            found = sorted(kinds.values(), key=lambda item: -item[0])
            matches.append(Match.model_construct(
                entry_id=entry.id, entry_name=entry.name, kind=entry.kind, score=score,
                band=MatchBand.alert if score >= DEFAULT_THRESHOLD else MatchBand.review,
                evidence=[self._evidence(item) for _, item in found]))
        matches.sort(key=lambda m: (-m.score, m.entry_id))
        indicators = find_indicators(report.ad_text, report.destination_country)
        # a field of the submitted report only; getattr's default would go through pydantic's
        # __getattr__ and a raised AttributeError for every other report (2% of screening)
        categories, risk = assess(matches, indicators, minors=bool(report.__dict__.get("minors", False)),
                                  threshold=DEFAULT_THRESHOLD)
        return Screening(matches, indicators, categories, risk)

    def _evidence(self, item) -> Evidence:
        if isinstance(item, Evidence):
            return item
        hit: _NameHit = item
        features = [EvidenceFeature.model_construct(name=f.name, value=f.value, detail=f.detail)
                    for f in hit.explain(self.index)]
        # model_construct: the engine made these values itself, from checked input
        return Evidence.model_construct(field=hit.field, report_value=hit.value, entry_value=hit.name.original,
                                        method="text_name" if hit.field == "ad_text" else "name_tokens",
                                        score=round(hit.score, 4), features=features)

    # ------------------------------------------------------------------ names

    def _word(self, key: str, surface: str, written: str, weak: bool = False) -> QueryWord:
        if self._words_generation != self.index.generation:
            self._words.clear()
            self._splits.clear()
            self._words_generation = self.index.generation
        facts = self._words.get(key)
        if facts is None:
            if len(self._words) > 200_000:
                self._words.clear()
            facts = self._words[key] = (self.index.idf(key), key in self.index.token_ids, is_generic(key),
                                        is_place(key))
        idf, listed, generic, place = facts
        return QueryWord(key, surface, idf, listed, weak, written, generic, place)

    def _split(self, surface: str):
        found = self._splits.get(surface, False)
        if found is False:
            if len(self._splits) > 200_000:
                self._splits.clear()
            found = self._splits[surface] = split_joined(surface, self.index.token_ids.__contains__)
        return found

    def _name_hits(self, words: list[QueryWord], context: tuple, field: str, value: str,
                   region: tuple[int, int] | str, margin: float = -1.0,
                   cutoff: float = model.MIN_NAME_SCORE) -> list[_NameHit]:
        """The listed names like this report value, one hit per entry (its best name and reading)."""
        if not words:
            return []
        best: dict[str, _NameHit] = {}
        found = readings(words, self._word, self.index.token_ids.__contains__, self._split)
        settle = len(found) == 1 and margin >= 0  # one reading: the kernel can settle the value itself
        for reading in found:
            groups = [self.index.similar_postings(w.key, w.surface) for w in reading]
            for slot, score, partial, ambiguous in self._match(reading, groups, context, margin, cutoff, settle):
                name = self.index.names[slot]
                held = best.get(name.entry.id)
                if held is None or score > held.score:
                    best[name.entry.id] = _NameHit(score, field, value, region, name, reading, groups, context, partial,
                                                   ambiguous, settle)
        return list(best.values())

    def _match(self, words: list[QueryWord], groups: list, context: tuple, margin: float,
               cutoff: float, settle: bool) -> list[tuple[int, float, bool, bool]]:
        """(slot, score, partial, ambiguous) of the listed names this reading can match (the
        kernel's scores; settled as the only reading of its value when settle)."""
        index = self.index
        blocking = block(index, words, groups, cutoff)
        if blocking is None:
            return []
        form, want_person, in_text = context
        return index.store.match(blocking.mode, blocking.first, blocking.alone, blocking.explicit, 0, tuple(groups),
                                 [w.idf for w in words], query_flags(words), form, want_person, in_text,
                                 cutoff, margin, settle)

    def match_name(self, value: str, kind: EntryKind = EntryKind.agency) -> list[tuple[NameRecord, float]]:
        """Listed names like this one, with their name score (a helper for looking into the
        engine; screen() is what screens)."""
        person = kind == EntryKind.person
        key = name_key(value, agency=not person)
        words = [self._word(t, s, t) for t, s in zip(key.tokens, key.surface)]
        hits = self._name_hits(words, (self.index.form_id(key.form), int(person), False), "name", value, value)
        return sorted(((h.name, h.score) for h in hits), key=lambda item: -item[1])

    # ------------------------------------------------------------------ identifiers

    def _identifier_hits(self, report: ReportContent):
        ids = self.index.identifiers
        text = report.ad_text or ""
        for kind, feature, to_key, in_text, score in IDENTIFIERS:
            if not ids[feature]:
                continue  # nothing of this kind on the watchlist: no need to look
            pairs = [(feature, v, to_key(v)) for v in getattr(report, feature)]
            if text:
                pairs += [("ad_text", raw, key) for raw, key in in_text(text)]
            for source, value, key in pairs:
                if not key:
                    continue
                holders = self.index.holders(feature, key)
                found_score = score
                if kind == "url" and not holders and "/" in key:  # a listed bare domain covers its pages
                    holders = self.index.holders(feature, key.split("/", 1)[0])
                    found_score = model.URL_DOMAIN
                for entry, listed in holders:
                    yield kind, feature, to_key, in_text, found_score, entry, value, listed, source


def _settled(hits: list[_NameHit], cutoff: float) -> list[_NameHit]:
    """Step 4. A value several listed names are alike to, none the same (partial hits of one
    report value within the margin of each other: words left out or added), is ambiguous; then a hit that another listed name
    explains clearly better (the same value, or overlapping ad text, by more than the margin)
    goes: "Yayasan Pertiwi Karya Sinar" names that firm, not also "Yayasan Pertiwi Sinar"."""
    if len(hits) < 2:
        return hits
    by_region: dict[tuple[str, object], list[_NameHit]] = {}
    for hit in hits:
        by_region.setdefault((hit.field, hit.region), []).append(hit)
    for group in by_region.values():
        partial = [h for h in group if h.partial and not h.settled]
        if len(partial) < 2:
            continue
        best = max(h.score for h in partial)
        alike = [h for h in partial if h.score >= best - model.EXPLANATION_MARGIN]
        if len(alike) > 1:
            for hit in alike:
                hit.score *= model.AMBIGUOUS_PART
                hit.ambiguous = True
    # the best score over each value, and over each stretch of ad text: regions are few
    best: dict[tuple[str, object], float] = {}
    for hit in hits:
        held = best.get((hit.field, hit.region))
        if held is None or hit.score > held:
            best[(hit.field, hit.region)] = hit.score
    kept = []
    for hit in hits:
        if hit.score < cutoff:
            continue
        if hit.field != "ad_text":
            if best[(hit.field, hit.region)] > hit.score + model.EXPLANATION_MARGIN:
                continue
        elif any(field == "ad_text" and score > hit.score + model.EXPLANATION_MARGIN
                 and region[0] < hit.region[1] and hit.region[0] < region[1] for (field, region), score in best.items()):
            continue
        kept.append(hit)
    return kept
