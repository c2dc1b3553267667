"""The compiled kernel (_kernel.c) against the plain-Python definitions it implements: the
listed words like a query word (words.py), the name score and its features (scoring.py), to
the last bit; and blocking, which must never lose a name that can reach the cutoff, checked at
the level of what screening returns against an engine that scores every listed name."""
from __future__ import annotations

import random

import pytest

from services.matcher.screening import ScreeningEngine, engine as engine_module, model
from services.matcher.screening.blocking import Blocking
from services.matcher.screening.blocking import query_flags
from services.matcher.screening.index import EXPLICIT, NameIndex
from services.matcher.screening.normalize import modern_spelling, name_key
from services.matcher.screening.scoring import ListedWord, score_reading
from services.matcher.screening.words import word_similarity
from shared.schemas import ReportContent, WatchlistEntry

# Words alike on purpose: one letter apart, two apart, swapped, old spellings, short and long
WORDS = ["Sinar", "Jaya", "Abadi", "Bintang", "Bintung", "Timur", "Samudra", "Samudera", "Karya", "Lestari",
         "Wijaya", "Wijoyo", "Hartono", "Hartana", "Sutrisno", "Sutrisna", "Perkasa", "Mandiri", "Budi", "Rudi",
         "Kencana", "Kencono", "Makmur", "Cahaya", "Tjahaja", "Djaja", "Soekarno", "Sukarno", "Wiratama", "Wiratoma",
         "Dian", "Dina", "Elang", "Elng", "Rimba", "Rmiba", "Amanah", "Putra", "AmanahPutra", "Sentral", "Pratama"]


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    kind = rng.choice(["sub", "ins", "del", "swap", "two"])
    if kind == "sub":
        return word[:i] + rng.choice("aeiounrst") + word[i + 1:]
    if kind == "ins":
        return word[:i] + rng.choice("aeiounrst") + word[i:]
    if kind == "del" and len(word) > 3:
        return word[:i] + word[i + 1:]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return typo(typo(word, rng), rng) if kind == "two" else word


def random_entries(rng: random.Random, n: int) -> list[WatchlistEntry]:
    entries = []
    for i in range(n):
        kind = rng.choice(["agency", "person"])
        words = rng.sample(WORDS, rng.choice([1, 2, 2, 3, 4]))
        if rng.random() < 0.3:
            words.append(typo(rng.choice(WORDS), rng))
        name = " ".join(words)
        entries.append(WatchlistEntry(id=f"e{i}", kind=kind, name=f"{rng.choice(['PT', 'CV', ''])} {name}".strip()
                                      if kind == "agency" else name,
                                      aliases=[rng.choice(WORDS)] if rng.random() < 0.1 else []))
    return entries


def query_words(rng: random.Random) -> list[str]:
    return [typo(w, rng) if rng.random() < 0.4 else w for w in rng.sample(WORDS, rng.choice([1, 2, 3]))]


@pytest.mark.parametrize("seed", [1, 2])
def test_similar_words_are_words_py_similarity_over_the_whole_vocabulary(seed):
    rng = random.Random(seed)
    engine = ScreeningEngine(random_entries(rng, 600))
    index = engine.index
    for removed in ([], [f"e{i}" for i in range(0, 600, 3)]):
        for entry_id in removed:
            engine.remove(entry_id)
        vocabulary = {token: token_id for token, token_id in index.token_ids.items()}
        for written in [w for _ in range(60) for w in query_words(rng)]:
            key = name_key(written)
            word = engine._word(key.tokens[0], key.surface[0], written)
            size, ids, sims, most, common = index.similar_postings(word.key, word.surface)
            got = dict(zip(ids, sims))
            spellings = (word.key, word.surface) if word.surface != word.key else (word.key,)
            want = {}
            for token, token_id in vocabulary.items():
                sim = word_similarity(spellings, index.spellings_of(token), same=token == word.key,
                                      query_is_listed=word.key in vocabulary)
                if sim > 0:
                    want[token_id] = sim
            assert got == want, written
            assert size == sum(index.store.df(t) for t in ids)
            assert most == max((s * index.store.idf(t) for t, s in got.items()), default=0.0)
            assert set(common) == {t for t in ids if index.store.df(t) > 64}


@pytest.mark.parametrize("seed", [3, 4])
def test_kernel_scores_and_features_equal_scoring_py(seed):
    """Every listed name against random queries (typos, joined words, forms, both kinds, in text
    or not): the kernel's score, partial flag and explained alignment equal scoring.py's."""
    rng = random.Random(seed)
    engine = ScreeningEngine(random_entries(rng, 400))
    index = engine.index
    slots = [name.slot for name in index.names if name is not None]
    checked = 0
    for _ in range(150):
        words = [engine._word(modern_spelling(w.lower()), w.lower(), w, rng.random() < 0.1) for w in query_words(rng)]
        groups = [index.similar_postings(w.key, w.surface) for w in words]
        form = rng.choice([None, "pt", "cv"])
        want_person = rng.choice([-1, 0, 1])
        in_text = rng.random() < 0.5
        got = {slot: (score, partial) for slot, score, partial, _ in index.store.match(
            EXPLICIT, None, None, slots, 0, tuple(groups), [w.idf for w in words], query_flags(words),
            index.form_id(form), want_person, in_text, 0.0, -1.0, False)}
        for slot in slots:
            name = index.names[slot]
            listed = [ListedWord(t, index.spellings_of(t), index.idf(t)) for t in name.tokens]
            want = score_reading(words, listed, listed_person=name.entry.person, query_form=form,
                                 listed_form=name.form, query_person=None if want_person < 0 else bool(want_person),
                                 in_text=in_text)
            score, partial = got.get(slot, (0.0, False))
            assert round(score, 4) == want.score, (name.original, [w.written for w in words])
            if want.score > 0:
                assert partial == want.partial
                hit = engine_module._NameHit(score, "f", "v", "v", name, words, groups,
                                             (index.form_id(form), want_person, in_text), partial)
                assert [(f.name, f.value, f.detail) for f in hit.explain(index)] == \
                    [(f.name, f.value, f.detail) for f in want.features]
                checked += 1
    assert checked > 500


def _every_name(index: NameIndex, words, groups, cutoff=model.MIN_NAME_SCORE) -> Blocking:
    alive = [name.slot for name in index.names if name is not None]
    return Blocking(EXPLICIT, None, None, alive)


def _screen_all(engine: ScreeningEngine, report: ReportContent, **options):
    """Screening with blocking replaced by every listed name."""
    original = engine_module.block
    engine_module.block = _every_name
    try:
        return engine.screen(report, **options)
    finally:
        engine_module.block = original


def _crowd(rng: random.Random) -> list[WatchlistEntry]:
    """Thousands of names sharing common words (past the blocking's rare paths), shared
    nicknames, firms of generic words only, and rare words beside them."""
    generic = ["Jaya", "Abadi", "Makmur", "Mandiri", "Sejahtera", "Sentosa", "Karya", "Utama"]
    given = ["Budi", "Sri", "Agus", "Slamet", "Dewi", "Joko"]
    rare = sorted({"".join(rng.choice("bdgklmnprst") + rng.choice("aiou") for _ in range(rng.choice([2, 3, 4])))
                   for _ in range(300)})
    entries = []
    for i in range(3000):
        if i % 2:
            words = rng.sample(generic, rng.choice([1, 2, 3])) + ([rng.choice(rare)] if rng.random() < 0.6 else [])
            rng.shuffle(words)
            entries.append(WatchlistEntry(id=f"c{i}", kind="agency", name=f"PT {' '.join(words)}"))
        else:
            entries.append(WatchlistEntry(id=f"c{i}", kind="person", name=f"{rng.choice(given)} {rng.choice(rare)}",
                                          aliases=[rng.choice(given)] if rng.random() < 0.1 else []))
    return entries


@pytest.mark.parametrize("seed", [5, 6])
def test_blocking_loses_nothing_screening_every_name_finds(seed):
    """What screening returns (matches, scores, evidence) equals what it returns scoring every
    listed name, for field values, ad text, common words only, typos, with a low min_score."""
    rng = random.Random(seed)
    entries = _crowd(rng)
    engine = ScreeningEngine(entries)
    names = [e.name for e in entries]
    for _ in range(120):
        picked = rng.choice(names).split()
        words = [typo(w, rng) if rng.random() < 0.2 else w for w in picked if rng.random() < 0.85] or picked
        if rng.random() < 0.3:
            words.append(rng.choice(["Jaya", "Baru", rng.choice(WORDS)]))
        value = " ".join(words)
        report = rng.choice([ReportContent(agency_names=[value]), ReportContent(recruiter_names=[value]),
                             ReportContent(ad_text=f"Lowongan kerja hubungi {value} segera, gaji besar")])
        for min_score in (None, 0.6, 0.5):
            got = engine.screen(report, min_score=min_score)
            want = _screen_all(engine, report, min_score=min_score)
            assert [(m.entry_id, m.score, m.band) for m in got.matches] == \
                [(m.entry_id, m.score, m.band) for m in want.matches], value


def test_names_made_of_one_word_alone_are_found_and_shared_nicknames_are_ambiguous():
    crowd = [WatchlistEntry(id=f"p{i}", kind="person", name=f"Parman Wiryo{chr(97 + i % 26)}{i}") for i in range(300)]
    engine = ScreeningEngine([*crowd, WatchlistEntry(id="nick", kind="person", name="Suparman Hadi", aliases=["Parman"])])
    matches = engine.screen(ReportContent(recruiter_names=["Parman"])).matches
    assert [m.entry_id for m in matches] == ["nick"]
    shared = ScreeningEngine([WatchlistEntry(id=f"n{i}", kind="person", name=f"Orang {i}x", aliases=["Bejo"])
                              for i in range(5)])
    assert shared.screen(ReportContent(recruiter_names=["Bejo Santoso"]), min_score=0.5).matches == []
    assert {m.entry_id for m in shared.screen(ReportContent(recruiter_names=["Bejo"])).matches} == \
        {f"n{i}" for i in range(5)}  # the whole name, five times listed: each is that name


def test_a_name_given_for_the_other_kind_of_party_counts_less_and_the_right_kind_explains_it():
    firm = WatchlistEntry(id="a", kind="agency", name="Lestari Jaya")
    person = WatchlistEntry(id="p", kind="person", name="Lestari Jaya")
    alone = ScreeningEngine([firm]).screen(ReportContent(recruiter_names=["Lestari Jaya"])).matches
    assert [(m.entry_id, m.score) for m in alone] == [("a", model.KIND_DIFFERS)]
    assert "kind_differs" in [f.name for f in alone[0].evidence[0].features]
    both = ScreeningEngine([firm, person]).screen(ReportContent(recruiter_names=["Lestari Jaya"])).matches
    assert [(m.entry_id, m.score) for m in both] == [("p", 1.0)]  # the person explains it better
