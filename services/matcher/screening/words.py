"""How alike a reported word and a listed word are (the plain-Python definition; the kernel's
neighbourhood lookup gives the same similarities for the listed words near a query word).

Typos are counted as optimal string alignment distance (Damerau: two neighbours swapped is one
typo, not two), on the modern spelling and on the spelling as written, whichever is closer."""
from __future__ import annotations

from rapidfuzz.distance import OSA

from services.matcher.screening import model


def edit_similarity(distance: int, query: str, listed: str) -> float:
    """The similarity of two different words `distance` edits apart (0.0: not alike enough)."""
    letters = max(len(query), len(listed))
    if distance == 1:
        if letters >= 5:
            return model.ONE_EDIT
        if letters == model.MIN_FUZZY_LETTERS:
            return 0.0 if len(query) == len(listed) and not _swapped(query, listed) else model.ONE_EDIT_SHORT
        return 0.0
    if distance == 2 and min(len(query), len(listed)) >= model.MIN_TWO_EDIT_LETTERS - 1:
        if letters >= 8:
            return model.TWO_EDITS_LONG
        if letters == model.MIN_TWO_EDIT_LETTERS:
            return model.TWO_EDITS
    return 0.0


def _swapped(a: str, b: str) -> bool:
    differ = [i for i in range(len(a)) if a[i] != b[i]]
    return len(differ) == 2 and differ[1] == differ[0] + 1 and a[differ[0]] == b[differ[1]]


def word_similarity(query_spellings: tuple[str, ...], listed_spellings: tuple[str, ...], *, same: bool,
                    query_is_listed: bool) -> float:
    """query_spellings: the reported word's key and surface; listed_spellings: the listed word's
    key and every spelling the watchlist writes it in; same: the keys are equal.
    query_is_listed: the reported word is itself a word of the watchlist (then a neighbour of it
    is more likely another name than a misspelling: LISTED_NEIGHBOUR)."""
    if same:
        return model.SAME_WORD
    best = 0.0
    for query in query_spellings:
        for listed in listed_spellings:
            if abs(len(query) - len(listed)) > 2 or min(len(query), len(listed)) < model.MIN_FUZZY_LETTERS - 1:
                continue
            distance = OSA.distance(query, listed, score_cutoff=2)
            if distance <= 2:
                best = max(best, edit_similarity(distance, query, listed))
    if best and query_is_listed:
        best *= model.LISTED_NEIGHBOUR
    return best
