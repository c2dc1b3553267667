"""The watchlist index: candidate retrieval before scoring.

Names are split into normalised tokens; each token keeps a posting set of the names that hold
it, and a deletion neighbourhood (SymSpell) over the vocabulary finds tokens one edit away
without scanning. Identifiers (phones, licences, handles, URLs) are exact-key maps. All of it
is updated in place by upsert/remove: the streaming matcher never rebuilds it whole."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TypeVar

from rapidfuzz.distance.Levenshtein import distance as levenshtein

from services.matcher.screening.identifiers import handle_key, licence_key, phone_key, url_key
from services.matcher.screening.normalize import is_generic, is_place, name_key
from shared.schemas import EntryKind, WatchlistEntry

GENERIC_FACTOR = 0.3  # words many firm names share carry little evidence
PLACE_FACTOR = 0.1  # a town or "cabang" added to a firm's name says little about which firm
MIN_FUZZY_LEN = 5  # shorter tokens must match exactly: Budi/Rudi, Dewi/Dedi are other people


@dataclass(slots=True, eq=False)  # identity: records live in posting sets
class NameRecord:
    entry: "EntryRecord"
    original: str
    tokens: tuple[str, ...]
    form: str | None
    # No cached weights here: a million names with a weight tuple and sum each were ~60 MB, and
    # the table of token weights gives them as fast (TokenWeights)


@dataclass(slots=True, eq=False)
class EntryRecord:
    id: str
    name: str
    kind: EntryKind
    names: "NameRecord | tuple[NameRecord, ...]"  # one record alone (most entries) needs no tuple
    # feature, key, value as listed, feature, key, value, ...: one flat tuple per entry, since
    # a million entries with a phone each made a million small tuples more
    keys: tuple[str, ...]
    person: bool  # kind == person, kept as a bool: comparing enum members is slow in scoring

    def all_names(self) -> tuple["NameRecord", ...]:
        return self.names if isinstance(self.names, tuple) else (self.names,)


SMALL_MEMBERS = 32  # up to this many members a tuple (40 + 8n bytes), beyond it a list or a set
Member = TypeVar("Member")
Members = tuple[Member, ...] | list[Member] | set[Member]


def _add_member(mapping: dict[str, Members], key: str, member, many: type = list) -> bool:
    """Add to the members under key (never twice: upsert removes an entry first); True when
    the key is new. A tuple while few (most words of a watchlist); past that `many`: a list
    where members are only iterated and counted (a generic word in 100k names is 0.8 MB as a
    list, 4 MB as a set), a set where blocking also probes them."""
    held = mapping.get(key)
    if held is None:
        mapping[key] = (member,)
        return True
    if isinstance(held, tuple):
        mapping[key] = held + (member,) if len(held) < SMALL_MEMBERS else many((*held, member))
    elif isinstance(held, list):
        held.append(member)
    else:
        held.add(member)
    return False


def _discard_member(mapping: dict[str, Members], key: str, member) -> bool:
    """Remove from the members under key; True when none are left (the key is gone). A linear
    scan: removals are watchlist edits, rare beside lookups."""
    held = mapping.get(key)
    if held is None:
        return False
    if isinstance(held, tuple):
        held = tuple(m for m in held if m != member)
        if held:
            mapping[key] = held
    elif member in held:
        held.remove(member)
    if not held:
        del mapping[key]
        return True
    return False


def _triples(flat: tuple[str, ...]):
    return zip(flat[0::3], flat[1::3], flat[2::3])


def _listed_value(entry: "EntryRecord", feature: str, key: str) -> str:
    for listed_feature, listed_key, value in _triples(entry.keys):
        if listed_feature == feature and listed_key == key:
            return value
    return key


def _uncached(function):
    """The function behind an lru_cache: building the index calls it once per listed value."""
    return getattr(function, "__wrapped__", function)


class TokenWeights(dict):
    """token -> its weight (WatchlistIndex.idf), computed on first use: a dict subclass so that
    lookups of known tokens stay in C (map(weights.__getitem__, tokens) in scoring)."""

    def __init__(self, index: "WatchlistIndex") -> None:
        super().__init__()
        self.index = index

    def __missing__(self, token: str) -> float:
        weight = self[token] = self.index.idf(token)
        return weight


def deletions(token: str) -> set[str]:
    return {token[:i] + token[i + 1:] for i in range(len(token))}


class WatchlistIndex:
    def __init__(self) -> None:
        self.entries: dict[str, EntryRecord] = {}
        # token -> the names holding it: a tuple while few, then a set (see _add_member), since
        # blocking intersects the sets of common words (NameRecords hash by identity: no record
        # is read to find the names two common words share)
        self.postings: dict[str, Members[NameRecord]] = {}
        self.neighbours: dict[str, Members[str]] = {}  # deletion variant -> vocabulary tokens
        # feature -> key -> the entry, or a list of entries when several share the key (rare:
        # no list per key keeps a million phones smaller); the value as listed is in entry.keys
        self.identifiers: dict[str, dict[str, EntryRecord | list[EntryRecord]]] = {
            "phones": {}, "license_numbers": {}, "social_handles": {}, "urls": {}}
        self.live_names = 0
        self.short_postings: dict[str, Members[NameRecord]] = {}  # names of 1-2 tokens, by token
        self.weights = TokenWeights(self)  # token -> weight, emptied by every change
        self.generation = 0  # grows with every change: the query caches go stale
        self._similar: dict[str, list[tuple[str, float]]] = {}
        self._similar_postings: dict[str, tuple[int, list[Members[NameRecord]]]] = {}
        self._led: dict[str, tuple[list[float], list[NameRecord]]] = {}  # short_names_led_by, per generation
        self._exact: dict[tuple[str, ...], list[NameRecord]] = {}  # names_with_tokens, per generation
        self._similar_generation = 0

    # ------------------------------------------------------------------ updates

    def upsert(self, entry: WatchlistEntry) -> None:
        if entry.id in self.entries:
            self.remove(entry.id)
        # ids and identifier keys are not interned: each is unique, and the interpreter's table
        # of interned strings grew by ~80 MB for a million of them
        record = EntryRecord(entry.id, entry.name, entry.kind, (), (), entry.kind == EntryKind.person)
        names = []
        for original in [entry.name, *entry.aliases]:
            key = _uncached(name_key)(original)  # the query-side caches would keep every listed name
            if not key.tokens:
                continue
            name = NameRecord(record, original, tuple(sys.intern(t) for t in key.tokens), key.form)
            names.append(name)
            self.live_names += 1
            if len(set(name.tokens)) <= 2:
                for token in set(name.tokens):
                    _add_member(self.short_postings, token, name)
            for token in set(name.tokens):
                if _add_member(self.postings, token, name, set) and len(token) >= MIN_FUZZY_LEN:
                    for variant in deletions(token) | {token}:
                        _add_member(self.neighbours, variant, token)
        record.names = names[0] if len(names) == 1 else tuple(names)
        self.weights.clear()
        self.generation += 1
        keys: list[str] = []
        for feature, values, to_key in (("phones", entry.phones, phone_key),
                                        ("license_numbers", entry.license_numbers, licence_key),
                                        ("social_handles", entry.social_handles, handle_key),
                                        ("urls", entry.urls, url_key)):
            for value in values:
                key = _uncached(to_key)(value)
                if key:
                    listed = self.identifiers[feature]
                    held = listed.get(key)
                    if held is None:
                        listed[key] = record
                    elif isinstance(held, list):
                        held.append(record)
                    else:
                        listed[key] = [held, record]
                    keys += (feature, key, value)
        record.keys = tuple(keys)
        self.entries[record.id] = record

    def remove(self, entry_id: str) -> None:
        record = self.entries.pop(entry_id, None)
        if record is None:
            return
        self.weights.clear()
        self.generation += 1
        for name in record.all_names():
            self.live_names -= 1
            for token in set(name.tokens):
                _discard_member(self.short_postings, token, name)
                if _discard_member(self.postings, token, name) and len(token) >= MIN_FUZZY_LEN:
                    for variant in deletions(token) | {token}:
                        _discard_member(self.neighbours, variant, token)
        for feature, key, _ in _triples(record.keys):
            listed = self.identifiers[feature]
            others = [h for h, _ in self.holders(feature, key) if h is not record]
            if not others:
                listed.pop(key, None)
            else:
                listed[key] = others[0] if len(others) == 1 else others

    def close(self) -> None:
        """Unlink the reference cycles (an entry and its names, the weights and this index), so
        that reference counting alone frees the index: one frozen out of the garbage
        collector's walks (see ScreeningEngine) is never collected. Unusable afterwards."""
        for entry in self.entries.values():
            entry.names = ()
        self.weights.index = None

    def holders(self, feature: str, key: str) -> list[tuple[EntryRecord, str]]:
        """The (entry, value as listed) pairs holding this identifier key."""
        held = self.identifiers[feature].get(key)
        if held is None:
            return []
        return [(entry, _listed_value(entry, feature, key)) for entry in (held if isinstance(held, list) else (held,))]

    def names_with_tokens(self, tokens: tuple[str, ...]) -> list[NameRecord]:
        """The names made of exactly these distinct words, in any order: the names holding all
        of them (posting sets intersected in C, the smallest walked), less those with more.
        Kept until the watchlist changes: the words are common ones (blocking asks only for
        those), whose sets take a millisecond to intersect at 1M entries, and a firm named
        only in common words ("Sinar Jaya Abadi") comes back report after report."""
        self._fresh_caches()
        found = self._exact.get(tokens)
        if found is None:
            if len(self._exact) > 20_000:
                self._exact.clear()
            postings = [self.postings.get(token, ()) for token in tokens]
            postings.sort(key=len)
            first = postings[0] if isinstance(postings[0], set) else set(postings[0])
            found = self._exact[tokens] = [name for name in first.intersection(*postings[1:])
                                           if len(set(name.tokens)) == len(tokens)]
        return found

    # ------------------------------------------------------------------ lookups

    def weight(self, token: str) -> float:
        return self.weights[token]

    def idf(self, token: str) -> float:
        """Inverse document frequency over the watchlist's names, lowered for generic words.
        A token the watchlist does not hold weighs as much as the rarest, unless it is a place."""
        df = len(self.postings.get(token, ()))
        idf = math.log((self.live_names + 1) / (df + 1)) + 1.0
        if is_generic(token):
            idf *= GENERIC_FACTOR
        elif df == 0 and is_place(token):
            idf *= PLACE_FACTOR
        return idf

    def weights_of(self, tokens: tuple[str, ...]) -> list[float]:
        return list(map(self.weights.__getitem__, tokens))

    def name_total(self, name: NameRecord) -> float:
        return sum(map(self.weights.__getitem__, name.tokens))

    def similar_tokens(self, token: str) -> list[tuple[str, float]]:
        """Vocabulary tokens equal to this one (1.0) or one edit away (0.9). Cached until the
        watchlist changes: the same words come back in report after report."""
        self._fresh_caches()
        found = self._similar.get(token)
        if found is None:
            if len(self._similar) > 200_000:
                self._similar.clear()
                self._similar_postings.clear()
            found = self._similar[token] = self._similar_tokens(token)
        return found

    def similar_postings(self, token: str) -> tuple[int, list[Members[NameRecord]]]:
        """The posting lists of similar_tokens(token), and how many names they hold in all:
        what blocking weighs a query word by. Cached with similar_tokens."""
        self._fresh_caches()
        found = self._similar_postings.get(token)
        if found is None:
            lists = [self.postings[t] for t, _ in self.similar_tokens(token)]  # all listed words
            found = self._similar_postings[token] = (sum(map(len, lists)), lists)
        return found

    def short_names_led_by(self, token: str) -> tuple[list[float], list[NameRecord]]:
        """Short names (one or two distinct words) in which this word weighs at least half: the
        only ones a query holding just this common word can match; as (their weight sums,
        ascending; the names in that order). Kept per word until the watchlist changes, since a
        generic word (Jaya, Mandiri) is in thousands of short names."""
        self._fresh_caches()
        found = self._led.get(token)
        if found is None:
            if len(self._led) > 20_000:
                self._led.clear()
            doubled = 2 * self.weight(token)
            led = sorted(((total, name) for name in self.short_postings.get(token, ())
                          if doubled >= (total := self.name_total(name))), key=lambda pair: pair[0])
            found = self._led[token] = ([total for total, _ in led], [name for _, name in led])
        return found

    def _fresh_caches(self) -> None:
        if self._similar_generation != self.generation:
            self._similar.clear()
            self._similar_postings.clear()
            self._led.clear()
            self._exact.clear()
            self._similar_generation = self.generation

    def _similar_tokens(self, token: str) -> list[tuple[str, float]]:
        found = [(token, 1.0)] if token in self.postings else []
        if len(token) >= MIN_FUZZY_LEN:
            candidates: set[str] = set()
            for variant in deletions(token) | {token}:
                candidates.update(self.neighbours.get(variant, ()))
            candidates.discard(token)
            # the deletion neighbourhood also yields some two edits away: keep exactly one
            found += [(c, 0.9) for c in candidates if levenshtein(token, c, score_cutoff=1) == 1]
        return found
