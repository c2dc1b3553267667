"""Red-flag indicators in ad text, from data (red_flags.json, moratorium.json) with their sources.
Indicators are not proof (UNODC): each says what triggered it and why it matters."""
from __future__ import annotations

import re
from functools import lru_cache

from services.matcher.screening import rules
from services.matcher.screening.normalize import fold
from shared.schemas import Indicator


_WORD = re.compile(r"[a-z0-9]+")
_PLAIN_PHRASE = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")


def _first_words(phrases: list[str]) -> frozenset[str] | None:
    """The words a phrase group can start with; a text holding none of them cannot match, so
    its (slower) regex search is skipped. None when a phrase is not plain words: always search."""
    folded = [" ".join(fold(p).split()) for p in phrases]
    if not all(_PLAIN_PHRASE.fullmatch(p) for p in folded):
        return None
    return frozenset(p.split(" ", 1)[0] for p in folded)


def _phrase_pattern(phrases: list[str]) -> re.Pattern:
    alternatives = sorted({re.escape(fold(p)).replace(r"\ ", r"\s+") for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(alternatives) + r")(?![a-z0-9])")


@lru_cache(maxsize=1)
def _compiled():
    data = rules.red_flags()
    compiled = []
    for item in data["indicators"]:
        if "all_of" in item:
            patterns = [(_phrase_pattern(group), _first_words(group)) for group in item["all_of"]]
        else:
            patterns = [(_phrase_pattern(item["phrases"]), _first_words(item["phrases"]))]
        compiled.append((item, patterns))
    domestic = (_phrase_pattern(data["domestic_work_phrases"]), _first_words(data["domestic_work_phrases"]))
    moratorium = rules.moratorium()
    country_names = {fold(alias): country for country, aliases in moratorium["countries"].items() for alias in aliases}
    countries = _phrase_pattern(list(country_names))
    return compiled, domestic, countries, country_names, moratorium


def _search(pattern: tuple[re.Pattern, frozenset[str] | None], text: str, words: set[str]) -> re.Match | None:
    regex, first_words = pattern
    if first_words is not None and words.isdisjoint(first_words):
        return None
    return regex.search(text)


def find_indicators(ad_text: str, destination_country: str | None = None, lang: str = "id") -> list[Indicator]:
    compiled, domestic, countries, country_names, moratorium = _compiled()
    text = fold(ad_text or "")
    words = set(_WORD.findall(text))
    found: list[Indicator] = []
    for item, patterns in compiled:
        hits = []
        for pattern in patterns:
            hit = _search(pattern, text, words)
            if hit is None:
                break
            hits.append(hit)
        else:
            found.append(Indicator(code=item["code"], category=item["category"],
                                   phrase=" + ".join(h.group(1) for h in hits),
                                   explanation=item["explanation"][lang], source=item["source"]))
    # Domestic work in a country under the moratorium (destination field or named in the ad).
    work_hit = _search(domestic, text, words)
    country_hit = work_hit and (countries.search(fold(destination_country or "")) or countries.search(text))
    if country_hit:
        country = country_names[re.sub(r"\s+", " ", country_hit.group(1))]
        found.append(Indicator(
            code="moratorium_domestic_work", category="moratorium_destination",
            phrase=f"{work_hit.group(1)} + {country_hit.group(1)}",
            explanation=("Pekerja rumah tangga ke negara moratorium: " if lang == "id" else
                         "Domestic work in a moratorium country: ") + country.title(),
            source=f"{moratorium['decree']} ({moratorium['version']})"))
    return found


def warm_up() -> None:
    _compiled()
