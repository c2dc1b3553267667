"""The watchlist index: candidate retrieval before scoring.

Names are split into normalised tokens, each token gets an integer id, and the kernel
(_kernel.c) keeps every name as token ids in flat arrays with a sorted posting list of name
slots per token: retrieval and scoring read arrays, not a million Python objects. Its
deletion neighbourhood (SymSpell) over the vocabulary finds tokens one edit away without
scanning.
Identifiers (phones, licences, handles, URLs) are exact-key maps. All of it is updated in
place by upsert/remove: the streaming matcher never rebuilds it whole."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

try:
    from services.matcher.screening._kernel import BOTH, EXPLICIT, RARE, Store  # noqa: F401 (modes, for engine)
except ImportError as error:  # a checkout whose kernel was never compiled
    raise ImportError("the screening kernel (_kernel.c) is not built: run `make install` "
                      "(pip install -e . with a C compiler)") from error
from services.matcher.screening.identifiers import handle_key, licence_key, phone_key, url_key
from services.matcher.screening.normalize import is_generic, is_place, name_key
from shared.schemas import EntryKind, WatchlistEntry

GENERIC_FACTOR = 0.3  # words many firm names share carry little evidence
PLACE_FACTOR = 0.1  # a town or "cabang" added to a firm's name says little about which firm
MIN_FUZZY_LEN = 5  # shorter tokens must match exactly: Budi/Rudi, Dewi/Dedi are other people
UNION_CACHE_BYTES = 32 << 20  # WatchlistIndex.union_of: common words' name lists, 4 bytes a name


@dataclass(slots=True, eq=False)  # identity: a name is itself, whatever its words
class NameRecord:
    entry: "EntryRecord"
    original: str
    tokens: tuple[str, ...]
    form: str | None
    slot: int = -1  # the name's place in the kernel's arrays (WatchlistIndex.names)
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


# A query word as the kernel reads it: (how many names hold its similar words, their token
# ids, their similarities); see WatchlistIndex.similar_postings
Similar = tuple[int, tuple[int, ...], tuple[float, ...]]


class WatchlistIndex:
    def __init__(self) -> None:
        self.entries: dict[str, EntryRecord] = {}
        # names as token ids, posting lists, typo neighbourhoods, the name score
        self.store = Store(GENERIC_FACTOR, MIN_FUZZY_LEN)
        self.token_ids: dict[str, int] = {}  # listed token -> its id in the store
        self.tokens: list[str] = []  # by id (a forgotten token keeps its place)
        self.names: list[NameRecord | None] = []  # by slot; None once removed (slots are not reused)
        self.forms: dict[str, int] = {}  # company form -> its id in the store (0: none)
        # feature -> key -> the entry, or a list of entries when several share the key (rare:
        # no list per key keeps a million phones smaller); the value as listed is in entry.keys
        self.identifiers: dict[str, dict[str, EntryRecord | list[EntryRecord]]] = {
            "phones": {}, "license_numbers": {}, "social_handles": {}, "urls": {}}
        self.weights = TokenWeights(self)  # token -> weight, emptied by every change
        self.generation = 0  # grows with every change: the query caches go stale
        self._similar_postings: dict[str, Similar] = {}
        self._led: dict[str, tuple[list[float], list[int]]] = {}  # short_names_led_by, per generation
        self._exact: dict[tuple[str, ...], list[int]] = {}  # names_with_tokens, per generation
        self._unions: dict[str, bytes] = {}  # union_of, per generation
        self._unions_bytes = 0
        self._similar_generation = 0

    @property
    def live_names(self) -> int:
        return self.store.live

    def form_id(self, form: str | None) -> int:
        """The store's id of a company form (0 for none); forms come from a short fixed list."""
        if not form:
            return 0
        found = self.forms.get(form)
        if found is None:
            found = self.forms[form] = len(self.forms) + 1
        return found

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
            tokens = tuple(sys.intern(t) for t in key.tokens)
            slot = self.store.add_name(tuple(map(self._token_id, tokens)), record.person, self.form_id(key.form))
            name = NameRecord(record, original, tokens, key.form, slot)
            self.names.append(name)  # slots count up from 0 with each name added
            names.append(name)
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
            self.store.remove_name(name.slot)
            self.names[name.slot] = None
            for token in set(name.tokens):
                token_id = self.token_ids[token]
                if not self.store.df(token_id):  # no name holds it any more
                    del self.token_ids[token]  # its id is not reused: a new one if it comes back
                    self.store.forget_token(token_id)
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
        self.names.clear()
        self.weights.index = None

    def _token_id(self, token: str) -> int:
        found = self.token_ids.get(token)
        if found is None:
            found = self.token_ids[token] = self.store.add_token(token, is_generic(token))
            self.tokens.append(token)
        return found

    def holders(self, feature: str, key: str) -> list[tuple[EntryRecord, str]]:
        """The (entry, value as listed) pairs holding this identifier key."""
        held = self.identifiers[feature].get(key)
        if held is None:
            return []
        return [(entry, _listed_value(entry, feature, key)) for entry in (held if isinstance(held, list) else (held,))]

    def names_with_tokens(self, tokens: tuple[str, ...]) -> list[int]:
        """The slots of the names made of exactly these distinct listed words, in any order
        (the kernel walks the smallest posting list and bisects the others). Kept until the
        watchlist changes: the words are common ones (blocking asks only for those), whose
        lists take a while to intersect at 1M entries, and a firm named only in common words
        ("Sinar Jaya Abadi") comes back report after report."""
        self._fresh_caches()
        found = self._exact.get(tokens)
        if found is None:
            if len(self._exact) > 20_000:
                self._exact.clear()
            ids = [self.token_ids.get(token) for token in tokens]
            found = self._exact[tokens] = [] if None in ids else self.store.exact(tuple(ids))
        return found

    # ------------------------------------------------------------------ lookups

    def weight(self, token: str) -> float:
        return self.weights[token]

    def idf(self, token: str) -> float:
        """Inverse document frequency over the watchlist's names, lowered for generic words.
        A token the watchlist does not hold weighs as much as the rarest, unless it is a place.
        The kernel computes the same for listed tokens (weight_of in _kernel.c)."""
        token_id = self.token_ids.get(token)
        df = 0 if token_id is None else self.store.df(token_id)
        idf = math.log((self.live_names + 1) / (df + 1)) + 1.0
        if is_generic(token):
            idf *= GENERIC_FACTOR
        elif df == 0 and is_place(token):
            idf *= PLACE_FACTOR
        return idf

    def weights_of(self, tokens: tuple[str, ...]) -> list[float]:
        return list(map(self.weights.__getitem__, tokens))

    def similar_tokens(self, token: str) -> list[tuple[str, float]]:
        """Vocabulary tokens equal to this one (1.0) or one edit away (0.9)."""
        _, ids, sims = self.similar_postings(token)
        return [(self.tokens[token_id], sim) for token_id, sim in zip(ids, sims)]

    def similar_postings(self, token: str) -> Similar:
        """(how many names hold similar_tokens(token), their token ids, their similarities): what
        blocking weighs a query word by, and what the kernel reads a query word as. Cached until
        the watchlist changes: the same words come back in report after report."""
        self._fresh_caches()
        found = self._similar_postings.get(token)
        if found is None:
            if len(self._similar_postings) > 200_000:
                self._similar_postings.clear()
            found = self._similar_postings[token] = self.store.similar(token, self.token_ids.get(token, -1))
        return found

    def union_of(self, token: str) -> bytes:
        """The slots of the names holding similar_tokens(token), sorted, as the kernel's int32
        bytes. Asked for common words only (blocking's two-common-words path), whose many
        posting lists a query would otherwise merge one by one: one sorted array lets the
        kernel gallop through it. Kept until the watchlist changes, within UNION_CACHE_BYTES."""
        self._fresh_caches()
        found = self._unions.get(token)
        if found is None:
            found = self.store.union(self.similar_postings(token)[1])
            if self._unions_bytes + len(found) > UNION_CACHE_BYTES:
                self._unions.clear()
                self._unions_bytes = 0
            self._unions[token] = found
            self._unions_bytes += len(found)
        return found

    def short_names_led_by(self, token: str) -> tuple[list[float], list[int]]:
        """Short names (one or two distinct words) in which this word weighs at least half: the
        only ones a query holding just this common word can match; as (their weight sums,
        ascending; the names' slots in that order), from the kernel's walk of the word's
        posting list (Store.led_by). Kept per word until the watchlist changes, since a generic
        word (Jaya, Mandiri) is in thousands of short names."""
        self._fresh_caches()
        found = self._led.get(token)
        if found is None:
            if len(self._led) > 20_000:
                self._led.clear()
            token_id = self.token_ids.get(token)
            found = self._led[token] = ([], []) if token_id is None else self.store.led_by(token_id)
        return found

    def _fresh_caches(self) -> None:
        if self._similar_generation != self.generation:
            self._similar_postings.clear()
            self._led.clear()
            self._exact.clear()
            self._unions.clear()
            self._unions_bytes = 0
            self._similar_generation = self.generation
