"""Blocking: which listed names a query's words can reach at all, found without a scan.

The bound. A listed name scores at most F / (F + ADDED_WEIGHT * A), where F is the most its
found words can weigh (each query word it holds, at its best similarity times the rarest
weight among the listed words like it) and A is what the query's words it does not hold weigh
at least (see scoring.py: found words over all words, an added reported word counting
ADDED_WEIGHT). For the score to reach the cutoff c, F >= k * A with k = ADDED_WEIGHT * c / (1 - c).

Prefix filtering. Take the query's words rarest first: once the words still to come weigh less
than k times those taken, a name holding none of the words taken cannot reach c, so only the
names holding a word taken need scoring. Mostly that is one or two rare words, a few dozen
names. When the words taken are common too, their names are many: then only the names holding
two of them (a sorted union galloped through, cached), and the names in which one common word
weighs enough alone (Store.led_by), can reach c, as the same bound says for each."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from services.matcher.screening import model
from services.matcher.screening._kernel import QUERY_GENERIC, QUERY_PLACE, QUERY_WEAK
from services.matcher.screening.index import COMMON_WORD, RARE, NameIndex, Similar
from services.matcher.screening.scoring import QueryWord



FEW_NAMES = 400  # names a query may score whole (the kernel scores one in about 50 ns)


@dataclass(frozen=True, slots=True)
class Blocking:
    """What the kernel is to score: the names holding these words, the names made of one of
    the alone words alone, and these names."""
    mode: int
    first: tuple[int, ...]
    alone: tuple[int, ...] | None
    explicit: bytes | None  # int32 slots


def _led_ceiling(w: float, sim: float, rest: float, others: float, cutoff: float) -> float:
    """The most a name's other words may weigh, over the weight w of the one word of the words
    taken that it holds, for it to reach the cutoff: found <= sim * w + rest and whole >= w +
    LEFT_OUT_WEIGHT * ratio * w + ADDED_WEIGHT * others, so ratio <= ((sim + rest / w) / c - 1 -
    ADDED_WEIGHT * others / w) / LEFT_OUT_WEIGHT."""
    if w <= 0:
        return -1.0
    return ((sim + rest / w) / cutoff - 1.0 - model.ADDED_WEIGHT * others / w) / model.LEFT_OUT_WEIGHT


def block(index: NameIndex, words: list[QueryWord], groups: list[Similar],
          cutoff: float = model.MIN_NAME_SCORE) -> Blocking | None:
    """How the kernel finds the names to score for this query (its words and their similar
    listed words); None when no listed name can reach the cutoff (at least MIN_NAME_SCORE:
    the cached lists of Store.led_by go no further). The bound and the sifting run in the
    kernel (Store.block); the common words' cached lists are looked up here."""
    planned = index.store.block(tuple(groups), [w.idf for w in words], query_flags(words), cutoff, COMMON_WORD,
                                FEW_NAMES)
    if planned is None:
        return None
    first, alone, extra, led_words, pairs = planned
    if led_words is None:  # few names in all: every one is scored
        return Blocking(RARE, first, None, None)
    extras = [extra] if extra else []
    for token, sim, firm, person, alone_firm, alone_person, w_person, rest, others_person, differs in led_words:
        led = index.names_led_by(token)
        for (ratios, slots), ceiling, alone_ceiling in ((led[0], firm, alone_firm), (led[1], person, alone_person)):
            if differs and ratios and ratios[0] == 0.0 and alone_ceiling >= 0.0:
                # the word alone, a mononym: no word of it differs from the query's. Several
                # persons listed by it alone (a shared nickname) all score alike, so they are
                # ambiguous (model.AMBIGUOUS_PART): none may reach the cutoff then.
                alone_count = bisect_right(ratios, 0.0)
                if not (ceiling is person and alone_count > 1
                        and _led_ceiling(w_person, sim, rest, others_person, cutoff / model.AMBIGUOUS_PART) < 0.0):
                    extras.append(slots[:4 * alone_count])
            if ceiling >= 0.0:
                extras.append(slots[:4 * bisect_right(ratios, ceiling)])
    for a, b in pairs:  # names holding a common listed word like each of two words taken
        extras.append(index.names_holding_both((words[a].key, words[a].surface), (words[b].key, words[b].surface)))
    extra_slots = b"".join(extras)
    if not (first or alone or extra_slots):
        return None
    return Blocking(RARE, first, alone, extra_slots or None)


def query_flags(words: list[QueryWord]) -> bytes:
    """The kernel's flag byte of each query word."""
    return bytes((QUERY_WEAK if w.weak else 0) | (QUERY_GENERIC if w.generic else 0) | (QUERY_PLACE if w.place else 0)
                 for w in words)
