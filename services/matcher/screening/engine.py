"""The screening engine: retrieve candidates from the index, score them with small feature
functions (each leaves Evidence saying what met what, how, how strongly), combine per entry.

Feature scores (each in 0..1):
  name_tokens   report name vs entry name/alias: weighted token alignment (IDF, generic words
                light), one-edit typos, any word order; a differing word on both sides
                (a substitution: "Sinar Jaya Makmur" vs "Sinar Jaya Abadi") sinks it
  text_name     the same, for a name found in the ad text (after PT/CV/... or Pak/Bu/...,
                or through a rare word of a listed name)
  phone         same E.164 number (fields, text, wa.me links)            0.97
  licence       same normalised licence number                           0.95
  handle        same social handle                                       0.90
  url           same host+path (or a listed bare domain)                 0.90
An entry's score joins its best evidence per kind by noisy-or: independent kinds of evidence
reinforce each other (a phone hit with a name hit), repeats of one kind do not."""
from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations

from services.matcher.screening.identifiers import (
    handle_key, handles_in_text, licence_candidates_in_text, licence_key, phone_key, phones_in_text,
    url_key, urls_in_text)
from services.matcher.screening.index import BOTH, EXPLICIT, RARE, EntryRecord, NameRecord, Similar, WatchlistIndex
from services.matcher.screening.indicators import find_indicators, warm_up as warm_up_indicators
from services.matcher.screening.normalize import name_key, rules, text_tokens, warm_up as warm_up_names
from services.matcher.screening.risk import assess
from shared.schemas import EntryKind, Evidence, Indicator, Match, ReportContent, RiskLevel, WatchlistEntry
from shared.suppression import suppression_key

DEFAULT_THRESHOLD = 0.80
MAX_CANDIDATES = 100  # per name query, after blocking
MAX_MERGED_WINDOW = 12  # tokens: evidence quotes the window, so it stays a short excerpt
HUGE_GROUP = 5_000  # names holding a query word before the blocking switches to exact word sets
SMALL_GROUPS = 30
FEW_NAMES = 1_000  # names holding a word: few enough to merge per query, not worth caching
IDENTIFIER_SCORES = {"phone": 0.97, "licence": 0.95, "handle": 0.90, "url": 0.90}
BIG_BUILD = 10_000  # entries: a build this big is kept out of the garbage collector's walks
TEXT_WINDOW = 5  # tokens after a company form or honorific read as a possible name


@dataclass
class Screening:
    matches: list[Match]
    indicators: list[Indicator]
    categories: list[str]
    risk_level: RiskLevel


# One piece of evidence while screening: (score, field, report value, entry value, method).
# Plain tuples until the end: most candidates never reach the threshold, and building an
# Evidence model for each of them cost a fifth of the screening time.
_Hit = tuple[float, str, str, str, str]


@dataclass(slots=True)
class _Found:
    entry: EntryRecord
    best: dict[str, _Hit] = field(default_factory=dict)  # evidence kind -> best hit

    def add(self, kind: str, hit: _Hit) -> None:
        held = self.best.get(kind)
        if held is None or hit[0] > held[0]:
            self.best[kind] = hit

    @property
    def score(self) -> float:
        miss = 1.0
        for hit in self.best.values():
            miss *= 1.0 - hit[0]
        return round(1.0 - miss, 4)

    def evidence(self) -> list[Evidence]:
        # model_construct: the engine made these values itself, from checked input
        return [Evidence.model_construct(field=f, report_value=r, entry_value=e, method=m, score=s)
                for s, f, r, e, m in sorted(self.best.values(), key=lambda hit: -hit[0])]


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


class ScreeningEngine:
    def __init__(self, entries: Iterable[WatchlistEntry] = ()) -> None:
        self.index = WatchlistIndex()
        with _collector_paused():
            for entry in entries:
                self.index.upsert(entry)
        if len(self.index.entries) >= BIG_BUILD:
            # The index lives as long as the process and holds no garbage: keep the collector
            # off it. Left in its generations, every full collection walks all of it again
            # (0.25 s at 100k entries, 2 s at 1M, whenever the query caches have grown by a
            # quarter). close() unlinks its cycles so that it can still be freed.
            gc.collect()
            gc.freeze()
        warm_up()
        forms = rules.names()
        self._anchors = {f for f in forms["company_forms"] if " " not in f}
        self._honorifics = set(forms["honorifics"]) - {"bin", "binti"}
        self._ad_words = _ad_vocabulary()
        self._openers = frozenset(self._anchors | self._honorifics)  # a name may follow these

    def upsert(self, entry: WatchlistEntry) -> None:
        self.index.upsert(entry)

    def remove(self, entry_id: str) -> None:
        self.index.remove(entry_id)

    def close(self) -> None:
        """Let the index go (WatchlistIndex.close): a big build was frozen out of the
        collector's reach. The engine screens against nothing afterwards."""
        self.index.close()
        self.index = WatchlistIndex()

    def __len__(self) -> int:
        return len(self.index.entries)

    # ------------------------------------------------------------------ screening

    def screen(self, report: ReportContent, *, min_score: float | None = None,
               only_entry_ids: Collection[str] | None = None,
               suppressed: Collection[tuple[str, str]] = ()) -> Screening:
        """suppressed: (entry id, suppression_key(report value)) pairs a reviewer ruled false
        positives; such evidence is not counted."""
        threshold = DEFAULT_THRESHOLD if min_score is None else min_score
        found: dict[str, _Found] = {}

        def note(entry: EntryRecord, kind: str, hit: _Hit) -> None:
            if only_entry_ids is not None and entry.id not in only_entry_ids:
                return
            if suppressed and (entry.id, suppression_key(hit[2])) in suppressed:
                return
            held = found.get(entry.id)
            if held is None:
                held = found[entry.id] = _Found(entry)
            held.add(kind, hit)

        for field_name, kind in (("agency_names", EntryKind.agency), ("recruiter_names", EntryKind.person)):
            for value in getattr(report, field_name):
                for name, score in self.match_name(value, kind):
                    note(name.entry, "name", (score, field_name, value, name.original, "name_tokens"))
        self._identifiers(report, note)
        if report.ad_text:
            self._text_names(report.ad_text, note)

        _keep_best_explanations(found)
        matches = []
        for f in found.values():
            if f.best and (score := f.score) >= threshold:
                matches.append(Match.model_construct(entry_id=f.entry.id, entry_name=f.entry.name, kind=f.entry.kind,
                                                     score=score, evidence=f.evidence()))
        matches.sort(key=lambda m: (-m.score, m.entry_id))
        indicators = find_indicators(report.ad_text, report.destination_country)
        # a field of the submitted report only; getattr's default would go through pydantic's
        # __getattr__ and a raised AttributeError for every other report (2% of screening)
        categories, risk = assess(matches, indicators, minors=bool(report.__dict__.get("minors", False)),
                                  threshold=DEFAULT_THRESHOLD)
        return Screening(matches, indicators, categories, risk)

    # ------------------------------------------------------------------ names

    def match_name(self, value: str, kind: EntryKind | None = None) -> list[tuple[NameRecord, float]]:
        """Listed names similar to this one, with their name_tokens score (> 0.5 only)."""
        key = name_key(value)
        return self._match_tokens(key.tokens, key.form, kind, in_text=False)

    def _match_window(self, window: tuple[str, ...]) -> list[tuple[NameRecord, float]]:
        """The same for a window of ad text, whose tokens are normalised already: the name may
        be any run inside the window."""
        form = next((t for t in window if t in self._anchors), None)  # as name_key would find it
        return self._match_tokens(window, form, None, in_text=True)

    def _match_tokens(self, tokens: tuple[str, ...], form: str | None, kind: EntryKind | None,
                      in_text: bool) -> list[tuple[NameRecord, float]]:
        if not tokens:
            return []
        index = self.index
        # in query order (not a set's): which of two equally rare words leads the blocking must
        # not depend on string hashing, or a result would change from one process to the next
        alignment = {t: index.similar_postings(t) for t in dict.fromkeys(tokens)}
        blocking = self._block(alignment)
        if blocking is None:
            return []
        weights = index.weights_of(tokens)
        want_person = -1 if kind is None else int(kind == EntryKind.person)
        scored = index.store.match(*blocking, SMALL_GROUPS, tuple(map(alignment.__getitem__, tokens)), weights,
                                   sum(weights), index.form_id(form), want_person, in_text)
        # the kernel returned the names scoring above 0.5 (most candidates never do: their
        # records are never read), by slot; keep each entry's best
        results: dict[int, tuple[NameRecord, float]] = {}
        names = index.names
        for slot, score in scored:
            name = names[slot]
            previous = results.get(id(name.entry))
            if previous is None or score > previous[1]:
                results[id(name.entry)] = (name, round(score, 4))
        return list(results.values())

    def _block(self, alignment: dict[str, Similar]) -> tuple[int, tuple | None, tuple | None, list | None] | None:
        """How to find the candidates (the kernel's mode, its token groups or the slots found
        here): names holding the query's rarest words; for common words only, names holding
        two of them. Never a scan of the watchlist. None: no listed word is near the query."""
        groups = [(similar[0], similar[1], token) for token, similar in alignment.items() if similar[1]]
        if not groups:
            return None
        groups.sort(key=lambda g: g[0])  # stable: equally rare words in query order
        if groups[0][0] <= MAX_CANDIDATES:
            # A listed name without the query's rarest word loses most of its precision, so the
            # rarest word's names suffice; the next word's join in when both are few (a typo the
            # neighbourhood missed, or the rarest word being an addition).
            return RARE, groups[0][1], groups[1][1] if len(groups) > 1 else None, None
        if len(groups) >= 2:  # only common words: names holding two of them
            if groups[0][0] > HUGE_GROUP:
                # Words so common that even walking their posting lists costs more than the
                # search: only names made of the query's own words can score here (an extra
                # common word sinks a name when nothing distinctive agrees), so look those up.
                words = sorted(token for _, _, token in groups if token in self.index.token_ids)
                found: set[int] = set()
                for size in (len(words), len(words) - 1):
                    for subset in combinations(words, size) if size >= 2 else ():
                        found.update(self.index.names_with_tokens(subset))
                return EXPLICIT, None, None, sorted(found)
            # Names holding both words (or their typo neighbours). When the rarer word's names
            # are few, the kernel merges them itself and reads each one's record for a token of
            # the other word: such a word is mostly one never asked for before (a surname, a
            # firm's own word), whose union would be made, cached and evicted for one query.
            # Past that, it gallops through the other word's names (one sorted array, cached)
            # for each of the rarer word's.
            if groups[0][0] <= FEW_NAMES:
                return BOTH, groups[0][1], groups[1][1], None
            return BOTH, self.index.union_of(groups[0][2]), self.index.union_of(groups[1][2]), None
        # One common word alone can only be a short name (a mononym or nickname), and only one
        # in which that word carries most of the weight: a score above 0.5 needs recall above
        # 0.5, and this word is all the query can explain (an exact bound, not a heuristic).
        short: set[int] = set()
        for token, sim in self.index.similar_tokens(groups[0][2]):
            explained = 2 * sim * self.index.weight(token)
            totals, slots = self.index.short_names_led_by(token)
            short.update(slots[:bisect_left(totals, explained)])  # those weighing less than explained
        return EXPLICIT, None, None, sorted(short)

    def _candidates(self, alignment: dict[str, Similar]) -> list[NameRecord]:
        """The names blocking gives the kernel to score for a query (what match() scores)."""
        blocking = self._block(alignment)
        if blocking is None:
            return []
        return [self.index.names[slot] for slot in self.index.store.candidates(*blocking, SMALL_GROUPS)]

    # ------------------------------------------------------------------ identifiers

    def _identifiers(self, report: ReportContent, note) -> None:
        ids = self.index.identifiers
        text = report.ad_text or ""
        checks = (  # kind, field, key function for the field, finder for the ad text
            ("phone", "phones", phone_key, phones_in_text),
            ("licence", "license_numbers", licence_key, licence_candidates_in_text),
            ("handle", "social_handles", handle_key, handles_in_text),
            ("url", "urls", url_key, urls_in_text),
        )
        for kind, feature, to_key, in_text in checks:
            listed = ids[feature]
            if not listed:
                continue  # nothing of this kind on the watchlist: no need to look
            values = getattr(report, feature)
            pairs = [(feature, v, to_key(v)) for v in values]
            if text:
                pairs += [("ad_text", raw, key) for raw, key in in_text(text)]
            for source_field, value, key in pairs:
                if not key:
                    continue
                holders = self.index.holders(feature, key)
                score = IDENTIFIER_SCORES[kind]
                if kind == "url" and not holders and "/" in key:  # a listed bare domain covers its pages
                    holders = self.index.holders(feature, key.split("/", 1)[0])
                    score = 0.85
                for entry, listed_value in holders:
                    note(entry, kind, (score, source_field, value, listed_value, f"exact_{kind}"))

    # ------------------------------------------------------------------ free text

    def _text_names(self, text: str, note) -> None:
        """Names inside the ad: windows after a company form or honorific, and windows around
        any rare word of a listed name."""
        tokens = text_tokens(text)
        windows: set[tuple[int, int]] = set()
        token_ids, df = self.index.token_ids, self.index.store.df
        # most of an ad's words open nothing: find the few that may in C, then walk only those
        openers = self._openers.intersection(tokens)
        listed = token_ids.keys() & set(tokens)
        listed -= self._ad_words
        if not openers and not listed:
            return
        for i, token in enumerate(tokens):
            if token in openers:
                windows.add((i + 1, min(len(tokens), i + 1 + TEXT_WINDOW)))
            elif token in listed and df(token_ids[token]) <= 50 and self.index.weight(token) >= 1.0:
                windows.add((max(0, i - 3), min(len(tokens), i + 4)))
        words = text.split()
        for start, end in _merge_overlapping(windows):
            window = tokens[start:end]
            if not window:
                continue
            for name, score in self._match_window(window):
                if score < 0.5:
                    continue
                shown = " ".join(words[start:end]) if len(words) == len(tokens) else " ".join(window)
                note(name.entry, "text_name", (round(score * 0.95, 4), "ad_text", shown, name.original, "text_name"))


def _ad_vocabulary() -> frozenset[str]:
    """Words any ad is full of ("kami", "gaji", "segera"): one in a listed name says nothing
    about the ad naming it, so it opens no window alone (rare in the watchlist is not rare in
    ads). The red-flag phrases' words count as ad words too."""
    data = rules.ad_words()
    words = [*data["stopwords"], *data["job_ad_words"]]
    flags = rules.red_flags()
    for indicator in flags["indicators"]:
        words += indicator.get("phrases", [])
        words += [phrase for group in indicator.get("all_of", []) for phrase in group]
    words += flags["domestic_work_phrases"]
    return frozenset(token for text in words for token in text_tokens(text))


def _merge_overlapping(windows: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """One query for windows that overlap (two rare words of one name, a company form before
    it): the same names would be scored twice. A name's score looks only at the run of the
    window it matched, so a longer window does not dilute it."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if merged and start < merged[-1][1] and max(merged[-1][1], end) - merged[-1][0] <= MAX_MERGED_WINDOW:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _keep_best_explanations(found: dict[str, _Found], margin: float = 0.05) -> None:
    """A name written in the report is evidence for the listed names that explain it best:
    "Yayasan Pertiwi Karya Sinar" names that firm, not also "Yayasan Pertiwi Sinar" beside it."""
    best_for_value: dict[tuple[str, str], float] = {}
    for f in found.values():
        for kind in ("name", "text_name"):
            hit = f.best.get(kind)
            if hit:
                key = (hit[1], hit[2])
                if hit[0] > best_for_value.get(key, 0.0):
                    best_for_value[key] = hit[0]
    for f in found.values():
        for kind in ("name", "text_name"):
            hit = f.best.get(kind)
            if hit and hit[0] < best_for_value[(hit[1], hit[2])] - margin:
                del f.best[kind]
