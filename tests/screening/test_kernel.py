"""The compiled kernel (_kernel.c) against a plain-Python reference of the same definitions:
the candidates each blocking path gives, and the name_tokens score of every candidate, equal
to the last bit, on random watchlists and queries, before and after removals."""
from __future__ import annotations

import random
from array import array
from itertools import combinations

import pytest

from services.matcher.screening import ScreeningEngine
from services.matcher.screening._kernel import BOTH, EXPLICIT, RARE, Store
from services.matcher.screening.engine import HUGE_GROUP, MAX_CANDIDATES, SMALL_GROUPS
from services.matcher.screening.index import MIN_FUZZY_LEN, NameRecord, WatchlistIndex
from services.matcher.screening.normalize import name_key, text_tokens
from shared.schemas import EntryKind, WatchlistEntry


def reference_candidates(index: WatchlistIndex, tokens: tuple[str, ...]) -> list[NameRecord]:
    """Blocking as defined in engine.py's _block, over sets built by walking every name."""
    names = [n for n in index.names if n is not None]
    holding = {}
    for name in names:
        for token in set(name.tokens):
            holding.setdefault(token, set()).add(name)
    groups = []
    for token in dict.fromkeys(tokens):
        similar = index.similar_tokens(token)
        lists = [holding[t] for t, _ in similar]
        if lists:
            groups.append((sum(map(len, lists)), set().union(*lists), token))
    if not groups:
        return []
    groups.sort(key=lambda g: g[0])
    if groups[0][0] <= MAX_CANDIDATES:
        found = groups[0][1]
        if len(groups) > 1 and len(found) + groups[1][0] <= SMALL_GROUPS:
            found = found | groups[1][1]
    elif len(groups) >= 2 and groups[0][0] > HUGE_GROUP:
        words = sorted(token for _, _, token in groups if token in holding)
        found = {name for name in names for size in (len(words), len(words) - 1) if size >= 2
                 for subset in combinations(words, size) if set(name.tokens) == set(subset)}
    elif len(groups) >= 2:
        found = groups[0][1] & groups[1][1]
    else:
        found = set()
        for token, sim in index.similar_tokens(groups[0][2]):  # short names the word leads
            weight = index.weight(token)
            found |= {n for n in holding.get(token, ()) if len(set(n.tokens)) <= 2
                      and (total := sum(map(index.weight, n.tokens))) <= 2 * weight and total < 2 * sim * weight}
    return sorted(found, key=lambda name: name.slot)


def reference_score(index: WatchlistIndex, tokens: tuple[str, ...], form: str | None, name: NameRecord,
                    in_text: bool) -> float:
    """engine.py's name_tokens score, written plainly (as the engine had it before the kernel)."""
    weigh = index.weights
    query_weights = [weigh[t] for t in tokens]
    reach: dict[str, tuple[tuple[float, int], ...]] = {}
    for position, token in enumerate(tokens):
        for candidate, sim in index.similar_tokens(token):
            reach[candidate] = tuple(sorted((*reach.get(candidate, ()), (sim, position)), reverse=True))
    total_entry = sum(weigh[t] for t in name.tokens)
    used, matched_entry, matched_query = set(), 0.0, 0.0
    low, high, count, distinctive_hit, unmatched_entry, missed = len(tokens), -1, 0, False, 0, 0.0
    for e_token in name.tokens:
        w = weigh[e_token]
        for sim, position in reach.get(e_token, ()):
            if position not in used:
                used.add(position)
                count += 1
                matched_entry += w * sim
                matched_query += query_weights[position]
                low, high = min(low, position), max(high, position)
                distinctive_hit |= w >= 1.0
                break
        else:
            unmatched_entry += 1
            missed += w
            if missed >= total_entry / 2:
                return 0.0
    recall = matched_entry / total_entry
    if recall <= 0.5:
        return 0.0
    if in_text:
        span_length, total_query = high - low + 1, sum(query_weights[low:high + 1])
    else:
        span_length, total_query = len(tokens), sum(query_weights)
    precision = matched_query / total_query if total_query else 0.0
    score = recall * precision ** 0.5 if name.entry.person else recall * precision
    if unmatched_entry and count < span_length:
        score *= 0.5
    elif unmatched_entry and not distinctive_hit:
        score *= 0.6
    if form and name.form and form != name.form:
        score *= 0.92
    return score


WORDS = ["Sinar", "Jaya", "Abadi", "Bintang", "Bintung", "Timur", "Samudra", "Samudera", "Karya", "Lestari",
         "Wijaya", "Wijoyo", "Hartono", "Hartana", "Sutrisno", "Sutrisna", "Perkasa", "Mandiri", "Budi", "Rudi",
         "Kencana", "Kencono", "Makmur", "Cahaya"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernel_scores_and_candidates_equal_the_python_reference(seed):
    rng = random.Random(seed)
    common = WORDS[:4]  # drawn often: posting lists past MAX_CANDIDATES, and past HUGE_GROUP at seed 3
    rare = sorted({"".join(rng.choice("bdgklmnprst") + rng.choice("aiou") for _ in range(3)) for _ in range(400)})

    def name() -> str:
        words = rng.sample(WORDS, rng.choice([1, 2, 3, 4]))
        if rng.random() < 0.5:
            words[0] = rng.choice(common)
        if rng.random() < 0.4:  # a rare word (and its one-edit neighbours): the rare path
            words.insert(rng.randrange(len(words) + 1), rng.choice(rare))
        return " ".join(words)

    size = 6000 if seed == 3 else 1500
    entries = [WatchlistEntry(id=f"k{i}", kind=rng.choice(["agency", "person"]),
                              name=f"{rng.choice(['PT', 'CV', ''])} {name()}".strip(),
                              aliases=[name()] if rng.random() < 0.2 else []) for i in range(size)]
    engine = ScreeningEngine(entries)
    index = engine.index
    paths, compared = set(), 0
    for removed in ([], [f"k{i}" for i in range(0, size, 4)]):
        for entry_id in removed:
            engine.remove(entry_id)
        for _ in range(150):
            in_text = rng.random() < 0.3
            written = f"{rng.choice(['PT', 'CV', ''])} {name()} {rng.choice(['', 'Cilacap', 'Jaya'])}"
            if in_text:
                tokens = text_tokens(f"hubungi {written} segera")
                form = next((t for t in tokens if t in engine._anchors), None)
            else:
                key = name_key(written)
                tokens, form = key.tokens, key.form
            alignment = {t: index.similar_postings(t) for t in dict.fromkeys(tokens)}
            blocking = engine._block(alignment)
            want = reference_candidates(index, tokens)
            got = engine._candidates(alignment)
            assert got == want, (written, blocking and blocking[0])
            if blocking:
                paths.add(blocking[0] if blocking[0] != EXPLICIT else ("explicit", len(tokens) > 1))
            kind = rng.choice([None, EntryKind.agency, EntryKind.person])
            results = dict(engine._match_tokens(tokens, form, kind, in_text))
            expected = {}
            for candidate in want:
                score = reference_score(index, tokens, form, candidate, in_text)
                if score > 0.5 and kind is not None and candidate.entry.person != (kind == EntryKind.person):
                    score *= 0.9
                if score > 0.5:
                    previous = expected.get(id(candidate.entry))
                    if previous is None or score > previous[1]:
                        expected[id(candidate.entry)] = (candidate, round(score, 4))
                compared += 1
            assert results == dict(expected.values()), written
    assert compared > 1000
    assert {RARE, BOTH, ("explicit", False), ("explicit", True)} <= paths  # every blocking path


def test_store_keeps_postings_sorted_and_exact_through_changes():
    rng = random.Random(8)
    store = Store(0.3, 5)
    tokens = [store.add_token(f"kata{i}", i % 5 == 0) for i in range(40)]
    names: dict[int, tuple[int, ...]] = {}
    for step in range(4000):
        if names and rng.random() < 0.3:
            slot = rng.choice(sorted(names))
            store.remove_name(slot)
            del names[slot]
        else:
            held = tuple(rng.choice(tokens) for _ in range(rng.choice([1, 2, 3, 9])))  # repeats, and past 7 inline
            names[store.add_name(held, rng.random() < 0.5, rng.randrange(3))] = held
    assert store.live == len(names)
    for token in tokens:
        holders = sorted(slot for slot, held in names.items() if token in held)
        assert store.df(token) == len(holders)
        assert array("i", store.union((token,))).tolist() == holders
        assert store.candidates(RARE, (token,), None, None, 0) == holders
    for _ in range(200):
        group = tuple(rng.sample(tokens, rng.choice([1, 2, 3])))
        assert store.exact(group) == sorted(slot for slot, held in names.items() if set(held) == set(group))
        first, second = rng.sample(tokens, 2), rng.sample(tokens, 3)
        both = sorted(slot for slot, held in names.items() if set(first) & set(held) and set(second) & set(held))
        assert store.candidates(BOTH, tuple(first), tuple(second), None, 0) == both
        assert store.candidates(BOTH, store.union(tuple(first)), store.union(tuple(second)), None, 0) == both
    with pytest.raises(IndexError):
        store.add_name((len(tokens),), False, 0)
    with pytest.raises(IndexError):
        store.remove_name(10**6)
    with pytest.raises(ValueError):
        store.add_name((), False, 0)
    assert store.live == len(names)  # refused calls changed nothing


def test_neighbourhoods_are_the_tokens_one_edit_away():
    """The kernel's deletion neighbourhood against Levenshtein over the whole vocabulary: the
    token itself, then every listed token of MIN_FUZZY_LEN letters or more one edit away
    (substitution, insertion, deletion; repeated letters), and none once forgotten."""
    from rapidfuzz.distance.Levenshtein import distance

    rng = random.Random(6)
    store = Store(0.3, MIN_FUZZY_LEN)
    vocabulary = sorted({"".join(rng.choice("aabkst") for _ in range(rng.randrange(3, 9))) for _ in range(3000)})
    ids = {word: store.add_token(word, False) for word in vocabulary}
    gone = set(rng.sample(vocabulary, 300))
    for word in gone:
        store.forget_token(ids[word])
    live = [word for word in vocabulary if word not in gone]
    queries = rng.sample(vocabulary, 300) + ["".join(rng.choice("aabkst") for _ in range(rng.randrange(3, 9)))
                                             for _ in range(300)]
    near_ones = 0
    for query in queries:
        exact = ids[query] if query in ids and query not in gone else -1
        size, found, sims = store.similar(query, exact)
        assert size == 0  # no names in this store
        want = [word for word in live if word != query and len(word) >= MIN_FUZZY_LEN
                and distance(query, word) == 1] if len(query) >= MIN_FUZZY_LEN else []
        assert sorted(found[int(exact >= 0):]) == sorted(ids[word] for word in want), query
        assert (found[:1] == (exact,)) == (exact >= 0)
        assert sims == (1.0,) * int(exact >= 0) + (0.9,) * len(want)
        near_ones += len(want)
    assert near_ones > 500
