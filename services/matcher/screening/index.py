"""The name index: the watchlist as the screening kernel holds it, and its identifiers.

Names are split into words (normalize.py), each word gets an integer id, and the kernel
(_kernel.c) keeps every name as word ids in flat arrays with a sorted posting list of name
slots per word, and the typo neighbourhoods (SymSpell) of every spelling of every listed word:
retrieval and scoring read arrays, not a million Python objects. Identifiers (phones, licences,
handles, URLs) are exact-key maps. All of it is updated in place by upsert/remove: the streaming
matcher never rebuilds it whole."""
from __future__ import annotations

import math
from dataclasses import dataclass

try:
    from services.matcher.screening._kernel import BOTH, EXPLICIT, RARE, Store  # noqa: F401 (modes, for blocking)
except ImportError as error:  # a checkout whose kernel was never compiled
    raise ImportError("the screening kernel (_kernel.c) is not built: run `make install` "
                      "(pip install -e . with a C compiler)") from error
from services.matcher.screening import model
from shared.identifiers import handle_key, licence_key, phone_key, url_key
from services.matcher.screening.normalize import is_generic, is_place, name_key
from shared.schemas import EntryKind, WatchlistEntry

UNION_CACHE_BYTES = 32 << 20  # NameIndex.union_of: common words' name lists, 4 bytes a name
# The most a listed name's other words can weigh, over the one word a query matches, for it to
# reach MIN_NAME_SCORE: sim * w >= c * (w + LEFT_OUT_WEIGHT * rest) at sim = 1 (blocking.py)
LED_RATIO = (1.0 / model.MIN_NAME_SCORE - 1.0) / model.LEFT_OUT_WEIGHT


def kernel_model() -> dict:
    """model.py's constants as the kernel takes them."""
    return {"one_edit": model.ONE_EDIT, "one_edit_short": model.ONE_EDIT_SHORT,
"two_edits_long": model.TWO_EDITS_LONG,
            "two_edits": model.TWO_EDITS, "listed_neighbour": model.LISTED_NEIGHBOUR,
            "generic_factor": model.GENERIC_FACTOR, "place_factor": model.PLACE_FACTOR,
            "left_out_weight": model.LEFT_OUT_WEIGHT, "left_out_middle_weight": model.LEFT_OUT_MIDDLE_WEIGHT,
            "added_weight": model.ADDED_WEIGHT, "differing_word": model.DIFFERING_WORD,
            "differing_weak_word": model.DIFFERING_WEAK_WORD, "form_differs": model.FORM_DIFFERS,
            "kind_differs": model.KIND_DIFFERS, "in_ad_text": model.IN_AD_TEXT,
            "ambiguous_part": model.AMBIGUOUS_PART,
            "min_fuzzy": model.MIN_FUZZY_LETTERS, "min_two_edit": model.MIN_TWO_EDIT_LETTERS}


@dataclass(slots=True, eq=False)  # identity: a name is itself, whatever its words
class NameRecord:
    entry: "EntryRecord"
    original: str
    tokens: tuple[str, ...]  # keys, in written order
    surface: tuple[str, ...]  # as written
    form: str | None
    slot: int = -1  # the name's place in the kernel's arrays (NameIndex.names)


@dataclass(slots=True, eq=False)
class EntryRecord:
    id: str
    name: str
    kind: EntryKind
    names: "NameRecord | tuple[NameRecord, ...]"  # one record alone (most entries) needs no tuple
    # feature, key, value as listed, feature, key, value, ...: one flat tuple per entry, since
    # a million entries with a phone each made a million small tuples more
    keys: tuple[str, ...]
    person: bool  # kind == person, kept as a bool: comparing enum members is slow
    number: int  # the owner of its names in the kernel (Store.add_name)

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


# A query word as the kernel reads it: (how many names hold its similar words, their token
# ids, their similarities, the highest similarity times idf among them, the ids of those held by
# more than COMMON_WORD names); see NameIndex.similar_postings
Similar = tuple[int, tuple[int, ...], tuple[float, ...], float, tuple[int, ...]]
COMMON_WORD = 64  # names holding a listed word: past this, blocking reads it as common


class NameIndex:
    def __init__(self) -> None:
        self.entries: dict[str, EntryRecord] = {}
        self.store = Store(**kernel_model())
        self.token_ids: dict[str, int] = {}  # listed word (key) -> its id in the store
        self.tokens: list[str] = []  # by id (a forgotten word keeps its place)
        # (word id, spelling other than the key) -> [spelling id, how many listed names write it so]
        self.spellings: dict[tuple[int, str], list[int]] = {}
        self.key_spellings: dict[int, int] = {}  # word id -> the spelling id of its key
        self.other_spellings: dict[int, set[str]] = {}  # word id -> its other spellings (most have none)
        self.names: list[NameRecord | None] = []  # by slot; None once removed (slots are not reused)
        self.forms: dict[str, int] = {}  # company form -> its id in the store (0: none)
        self.form_names: list[str | None] = [None]  # by id
        # feature -> key -> the entry, or a list of entries when several share the key (rare:
        # no list per key keeps a million phones smaller); the value as listed is in entry.keys
        self.identifiers: dict[str, dict[str, EntryRecord | list[EntryRecord]]] = {
            "phones": {}, "license_numbers": {}, "social_handles": {}, "urls": {}}
        self.generation = 0  # grows with every change: the query caches go stale
        self._numbered = 0  # entries numbered so far (numbers are not reused)
        self._similar: dict[tuple[str, str], Similar] = {}
        self._led: dict[str, tuple[tuple[memoryview, bytes], tuple[memoryview, bytes]]] = {}
        self._unions: dict[str, bytes] = {}
        self._unions_bytes = 0
        self._pairs: dict[tuple[str, str], bytes] = {}  # int32 slots
        self._cache_generation = 0

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
            self.form_names.append(form)
        return found

    def form_name(self, form_id: int) -> str | None:
        return self.form_names[form_id] if form_id else None

    # ------------------------------------------------------------------ updates

    def reserve(self, entries: int) -> None:
        """Room for about this many entries more (a bulk build): the neighbourhoods grow once."""
        self.store.reserve(entries)

    def upsert(self, entry: WatchlistEntry) -> None:
        if entry.id in self.entries:
            self.remove(entry.id)
        # ids and identifier keys are not interned: each is unique
        person = entry.kind == EntryKind.person
        self._numbered += 1
        record = EntryRecord(entry.id, entry.name, entry.kind, (), (), person, self._numbered)
        names = []
        for original in [entry.name, *entry.aliases]:
            # the query-side cache would keep every listed name
            key = _uncached(name_key)(original, agency=not person)
            if not key.tokens:
                continue
            ids = tuple(self._word_id(token, surface) for token, surface in zip(key.tokens, key.surface))
            slot = self.store.add_name(ids, person, self.form_id(key.form), record.number)
            name = NameRecord(record, original, key.tokens, key.surface, key.form, slot)
            self.names.append(name)  # slots count up from 0 with each name added
            names.append(name)
        record.names = names[0] if len(names) == 1 else tuple(names)
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
        self.generation += 1
        for name in record.all_names():
            self.store.remove_name(name.slot)
            self.names[name.slot] = None
            for token, surface in zip(name.tokens, name.surface):
                self._release_spelling(token, surface)
            for token in set(name.tokens):
                self._forget_if_unheld(token)
        for feature, key, _ in _triples(record.keys):
            listed = self.identifiers[feature]
            others = [h for h, _ in self.holders(feature, key) if h is not record]
            if not others:
                listed.pop(key, None)
            else:
                listed[key] = others[0] if len(others) == 1 else others

    def close(self) -> None:
        """Unlink the reference cycles (an entry and its names), so that reference counting
        alone frees the index: one frozen out of the garbage collector's walks (see
        ScreeningEngine) is never collected. Unusable afterwards."""
        for entry in self.entries.values():
            entry.names = ()
        self.names.clear()

    def _word_id(self, token: str, surface: str) -> int:
        found = self.token_ids.get(token)
        if found is None:
            found = self.token_ids[token] = self.store.add_token(is_generic(token), is_place(token))
            self.tokens.append(token)
            self.key_spellings[found] = self.store.add_spelling(found, token)
        if surface != token:
            held = self.spellings.get((found, surface))
            if held is None:
                self.spellings[(found, surface)] = [self.store.add_spelling(found, surface), 1]
                self.other_spellings.setdefault(found, set()).add(surface)
            else:
                held[1] += 1
        return found

    def _release_spelling(self, token: str, surface: str) -> None:
        """A name writing this word so is gone."""
        if surface == token:
            return
        token_id = self.token_ids[token]
        held = self.spellings[(token_id, surface)]
        held[1] -= 1
        if not held[1]:
            del self.spellings[(token_id, surface)]
            self.store.forget_spelling(held[0])
            others = self.other_spellings[token_id]
            others.discard(surface)
            if not others:
                del self.other_spellings[token_id]

    def _forget_if_unheld(self, token: str) -> None:
        token_id = self.token_ids[token]
        if not self.store.df(token_id):  # no name holds it any more: its id is not reused
            del self.token_ids[token]
            self.store.forget_spelling(self.key_spellings.pop(token_id))

    def holders(self, feature: str, key: str) -> list[tuple[EntryRecord, str]]:
        """The (entry, value as listed) pairs holding this identifier key."""
        held = self.identifiers[feature].get(key)
        if held is None:
            return []
        return [(entry, _listed_value(entry, feature, key)) for entry in (held if isinstance(held, list) else (held,))]

    # ------------------------------------------------------------------ lookups

    def idf(self, token: str) -> float:
        """A word's rarity among the listed names, log((names + 1) / (holding + 1)) + 1: an
        unlisted word is as rare as can be (the kernel computes the same for listed words)."""
        token_id = self.token_ids.get(token)
        if token_id is not None:
            return self.store.idf(token_id)
        return math.log((self.live_names + 1) / 1) + 1.0

    def spellings_of(self, token: str) -> tuple[str, ...]:
        token_id = self.token_ids.get(token)
        others = self.other_spellings.get(token_id, ()) if token_id is not None else ()
        return (token, *sorted(others))

    def similar_postings(self, key: str, surface: str) -> Similar:
        """(how many names hold the listed words like this word, their ids, their similarities,
        the most a name can gain from them): what blocking weighs a query word by, and what
        the kernel reads it as. Cached until the
        watchlist changes: the same words come back in report after report."""
        self._fresh_caches()
        found = self._similar.get((key, surface))
        if found is None:
            if len(self._similar) > 200_000:
                self._similar.clear()
            found = self._similar[(key, surface)] = self.store.similar(key, surface, self.token_ids.get(key, -1),
                                                                      COMMON_WORD)
        return found

    def near_listed(self, key: str) -> bool:
        """The watchlist holds this word or one a typo or two from it."""
        return bool(self.similar_postings(key, key)[1])

    def union_of(self, key: str, surface: str) -> bytes:
        """The slots of the names holding the common listed words like this one, sorted, as
        the kernel's int32 bytes: one sorted array lets the kernel gallop through a common
        word's names. Kept until the watchlist changes, within UNION_CACHE_BYTES."""
        self._fresh_caches()
        found = self._unions.get(key)
        if found is None:
            found = self.store.union(self.similar_postings(key, surface)[4])
            if self._unions_bytes + len(found) > UNION_CACHE_BYTES:
                self._unions.clear()
                self._unions_bytes = 0
            self._unions[key] = found
            self._unions_bytes += len(found)
        return found

    def names_led_by(self, token_id: int) -> tuple[tuple[memoryview, bytes], tuple[memoryview, bytes]]:
        """The names holding this listed word whose other words weigh at most LED_RATIO times
        it, firms' then persons': (their ratios, ascending; their slots in that order as int32
        bytes), from Store.led_by. Kept per word until the watchlist changes, since a generic
        word (Jaya, Mandiri) is in thousands of names."""
        self._fresh_caches()
        key = self.tokens[token_id]
        found = self._led.get(key)
        if found is None:
            if len(self._led) > 50_000:
                self._led.clear()
            found = self._led[key] = tuple((memoryview(ratios).cast("d"), slots)
                                           for ratios, slots in self.store.led_by(token_id, LED_RATIO))
        return found

    def names_holding_both(self, first: tuple[str, str], second: tuple[str, str]) -> bytes:
        """Slots (int32 bytes) of the names holding a common listed word like each of two query words, kept until the
        watchlist changes: a firm named only in common words recurs report after report, and
        intersecting two long lists takes a while at a million names."""
        self._fresh_caches()
        pair = (first[0], second[0]) if first[0] <= second[0] else (second[0], first[0])
        found = self._pairs.get(pair)
        if found is None:
            if len(self._pairs) > 20_000:
                self._pairs.clear()
            found = self._pairs[pair] = self.store.candidate_bytes(BOTH, self.union_of(*first),
                                                                   self.union_of(*second), None, 0)
        return found

    def _fresh_caches(self) -> None:
        if self._cache_generation != self.generation:
            self._similar.clear()
            self._led.clear()
            self._pairs.clear()
            self._unions.clear()
            self._unions_bytes = 0
            self._cache_generation = self.generation
