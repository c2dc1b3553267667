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
from itertools import combinations

from services.matcher.screening import model
from services.matcher.screening.index import BOTH, COMMON_WORD, RARE, NameIndex, Similar
from services.matcher.screening.scoring import QueryWord, weigh



FEW_NAMES = 400  # names a query may score whole (the kernel scores one in about 50 ns)


@dataclass(frozen=True, slots=True)
class Blocking:
    """What the kernel is to score: the names holding these words, the names made of one of
    the alone words alone, and these names."""
    mode: int
    first: tuple[int, ...]
    alone: tuple[int, ...] | None
    explicit: bytes | None  # int32 slots


def _added_weights(word: QueryWord) -> tuple[float, float]:
    """What the word weighs when the report adds it to a firm's name, and to a person's
    (scoring.weigh; a weak word adds nothing)."""
    if word.weak:
        return 0.0, 0.0
    return weigh(word.idf, word.generic, word.place, False), weigh(word.idf, word.generic, word.place, True)


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
    the cached lists of Store.led_by go no further)."""
    k = model.ADDED_WEIGHT * cutoff / (1.0 - cutoff)
    most = [group[3] for group in groups]
    added = [_added_weights(w) for w in words]
    least = [min(pair) for pair in added]
    order = sorted(range(len(words)), key=lambda i: (groups[i][0], i))  # rarest first, then in query order
    remaining = sum(most)
    taken: list[int] = []
    held_back = 0.0
    for i in order:
        if taken and remaining < k * held_back:
            break
        taken.append(i)
        remaining -= most[i]
        held_back += least[i]
    # the words no listed name holds are always added, wherever they came in the order
    unmatched = [i for i in range(len(words)) if not groups[i][0]]
    taken = [i for i in taken if groups[i][0]]
    if not taken:
        return None
    if sum(groups[i][0] for i in taken) <= FEW_NAMES:  # scoring them costs less than sifting them
        return Blocking(RARE, tuple(t for i in taken for t in groups[i][1]), None, None)
    rest = sum(most) - sum(most[i] for i in taken)  # what the words not taken can add
    everyone = (*taken, *unmatched)
    # names holding two of the words taken: can such a pair reach the cutoff at all?
    pairs = [(a, b) for a, b in combinations(taken, 2)
             if most[a] + most[b] + rest >= k * sum(least[j] for j in everyone if j not in (a, b))]
    few_tokens: list[int] = []  # listed words few names hold: all their names are scored
    alone_tokens: list[int] = []  # listed words few names hold, whose names count only made of them alone
    extras: list[bytes] = []  # int32 slots (repeats are fine: the kernel sorts and dedups)
    for i in taken:
        others_firm = sum(added[j][0] for j in everyone if j != i)
        others_person = sum(added[j][1] for j in everyone if j != i)
        if most[i] + rest < k * min(others_firm, others_person):
            continue  # a name holding no other word taken cannot reach the cutoff
        # With words of the query left over and none to match the name's other words, a name
        # with other words has a differing word too: it needs cutoff / DIFFERING_WEAK_WORD
        differs = rest == 0.0 and len(everyone) > 1
        needed = cutoff / model.DIFFERING_WEAK_WORD if differs else cutoff
        few, alone, common = index.store.sieve(groups[i][1], groups[i][2], COMMON_WORD, rest, others_firm,
                                               others_person, cutoff, needed, differs)
        few_tokens += few
        alone_tokens += alone
        for token, firm, person, alone_firm, alone_person, w_person in common:
            led = index.names_led_by(token)
            for (ratios, slots), ceiling, alone in ((led[0], firm, alone_firm), (led[1], person, alone_person)):
                if differs and ratios and ratios[0] == 0.0 and alone >= 0.0:
                    # the word alone, a mononym: no word of it differs from the query's. Several
                    # persons listed by it alone (a shared nickname) all score alike, so they are
                    # ambiguous (model.AMBIGUOUS_PART): none may reach the cutoff then.
                    alone_count = bisect_right(ratios, 0.0)
                    sim = dict(zip(groups[i][1], groups[i][2]))[token]
                    if not (ceiling is person and alone_count > 1
                            and _led_ceiling(w_person, sim, rest, others_person, cutoff / model.AMBIGUOUS_PART) < 0.0):
                        extras.append(slots[:4 * alone_count])
                if ceiling >= 0.0:
                    extras.append(slots[:4 * bisect_right(ratios, ceiling)])
    for a, b in pairs:  # names holding a listed word like each of two words taken
        if groups[a][4] and groups[b][4]:
            extras.append(index.names_holding_both((words[a].key, words[a].surface), (words[b].key, words[b].surface)))
        rare_a = tuple(t for t in groups[a][1] if t not in groups[a][4])
        rare_b = tuple(t for t in groups[b][1] if t not in groups[b][4])
        if rare_a:  # the rarer side's names, kept when they hold a word of the other side
            extras.append(index.store.candidate_bytes(BOTH, rare_a, groups[b][1], None, 0))
        if rare_b:
            extras.append(index.store.candidate_bytes(BOTH, rare_b, groups[a][1], None, 0))
    extra = b"".join(extras)
    if not (few_tokens or alone_tokens or extra):
        return None
    return Blocking(RARE, tuple(few_tokens), tuple(alone_tokens) or None, extra or None)
