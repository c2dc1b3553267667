"""Red-flag indicators in ad text, from data (red_flags.json, moratorium.json) with their sources.
Indicators are not proof (UNODC): each says what triggered it and why it matters."""
from __future__ import annotations

import re
from functools import lru_cache

from services.matcher.screening import rules
from services.matcher.screening.normalize import fold
from shared.schemas import Indicator

_WORD_SPLIT = re.compile(r"([a-z0-9]+)")
_PLAIN_PHRASE = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")


def _phrase_pattern(phrases: list[str]) -> re.Pattern:
    alternatives = sorted({re.escape(fold(p)).replace(r"\ ", r"\s+") for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(alternatives) + r")(?![a-z0-9])")


class PhraseScanner:
    """Finds, for each group of phrases, its first phrase in a text: whole words, any run of
    whitespace between them, the longest phrase where several start at one place. The same
    matches as one regex per group, (?<![a-z0-9])(phrases, longest first)(?![a-z0-9]), found
    in one walk over the text's words (a regex pass per group was a tenth of screening).
    A group holding a phrase that is not plain words is searched with its regex."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.size = len(groups)
        self.regexes: dict[int, re.Pattern] = {}
        self.by_first_word: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        ordered = []
        for group_id, phrases in enumerate(groups):
            folded = {fold(p) for p in phrases}
            if all(_PLAIN_PHRASE.fullmatch(p) for p in folded):
                ordered += [(group_id, p) for p in folded]
            else:
                self.regexes[group_id] = _phrase_pattern(phrases)
        # The regex tries its alternatives longest first (by pattern length: a space is "\s+")
        ordered.sort(key=lambda item: len(item[1]) + 2 * item[1].count(" "), reverse=True)
        for group_id, phrase in ordered:
            words = tuple(phrase.split(" "))
            self.by_first_word.setdefault(words[0], []).append((group_id, words))

    def scan(self, text: str) -> list[str | None]:
        """Per group, the first phrase as written in `text` (folded), or None."""
        found: list[str | None] = [None] * self.size
        # One C-level split: words at odd indices, the separators around them at even ones
        # (word i is parts[2i + 1]; what follows it is parts[2i + 2])
        parts = _WORD_SPLIT.split(text) if self.by_first_word else [text]
        words = parts[1::2]
        for i, word in enumerate(words):
            starting = self.by_first_word.get(word)
            if starting is None:
                continue
            for group_id, phrase in starting:
                if found[group_id] is not None or i + len(phrase) > len(words):
                    continue
                for j in range(1, len(phrase)):
                    if words[i + j] != phrase[j] or not parts[2 * (i + j)].isspace():
                        break
                else:
                    found[group_id] = "".join(parts[2 * i + 1:2 * (i + len(phrase))])
        for group_id, regex in self.regexes.items():
            hit = regex.search(text)
            found[group_id] = hit.group(1) if hit else None
        return found


@lru_cache(maxsize=1)
def _compiled():
    """(scanner, [(indicator, its group ids)], domestic-work group id, country group id,
    country names, moratorium data)."""
    data = rules.red_flags()
    groups: list[list[str]] = []
    indicators = []
    for item in data["indicators"]:
        item_groups = item["all_of"] if "all_of" in item else [item["phrases"]]
        indicators.append((item, list(range(len(groups), len(groups) + len(item_groups)))))
        groups += item_groups
    domestic = len(groups)
    groups.append(data["domestic_work_phrases"])
    moratorium = rules.moratorium()
    country_names = {fold(alias): country for country, aliases in moratorium["countries"].items() for alias in aliases}
    countries = len(groups)
    groups.append(list(country_names))
    return PhraseScanner(groups), indicators, domestic, countries, country_names, moratorium


def find_indicators(ad_text: str, destination_country: str | None = None, lang: str = "id") -> list[Indicator]:
    scanner, indicators, domestic, countries, country_names, moratorium = _compiled()
    hits = scanner.scan(fold(ad_text or ""))
    found: list[Indicator] = []
    for item, group_ids in indicators:
        phrases = [hits[g] for g in group_ids]
        if all(phrases):
            found.append(Indicator(code=item["code"], category=item["category"], phrase=" + ".join(phrases),
                                   explanation=item["explanation"][lang], source=item["source"]))
    # Domestic work in a country under the moratorium (destination field or named in the ad).
    work = hits[domestic]
    country = work and (scanner.scan(fold(destination_country or ""))[countries] or hits[countries])
    if country:
        name = country_names[re.sub(r"\s+", " ", country)]
        found.append(Indicator(
            code="moratorium_domestic_work", category="moratorium_destination",
            phrase=f"{work} + {country}",
            explanation=("Pekerja rumah tangga ke negara moratorium: " if lang == "id" else
                         "Domestic work in a moratorium country: ") + name.title(),
            source=f"{moratorium['decree']} ({moratorium['version']})"))
    return found


def warm_up() -> None:
    _compiled()
