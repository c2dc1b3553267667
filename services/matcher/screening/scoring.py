"""The name score, feature by feature (model.py names them): the plain-Python definition of what
the kernel computes for every candidate, and the explanation a reviewer reads for a match.

1. Align: each reported word takes the listed word most like it (words.py), each listed word
   at most one reported word, best pairs first, any order.
2. name_words: the aligned pairs' similarity, weighted by the listed words' weights, over the
   weight of everything (left-out listed words and added reported words count part).
3. Qualify: a listed word left over while the report also has a word left over is a differing
   word (another party); the company forms or the kinds of party differ; the name was read from
   ad text.

A reported word written joined ("AmanahPutra") or split ("Sen tral") is read both ways and the
better reading kept (see readings)."""
from __future__ import annotations

from dataclasses import dataclass, field

from services.matcher.screening import model
from services.matcher.screening.normalize import is_generic, is_place, word_key
from services.matcher.screening.words import word_similarity


@dataclass(frozen=True, slots=True)
class QueryWord:
    key: str
    surface: str
    idf: float  # the word's rarity among listed names (see weight)
    listed: bool  # the watchlist holds this word itself
    weak: bool = False  # a word at the edge of a name read from text that may be the ad's: counts only as differing
    written: str = ""  # as the report wrote it, for the explanation ("AmanahPutra" for a split reading)
    generic: bool = False  # is_generic(key)
    place: bool = False  # is_place(key)


@dataclass(frozen=True, slots=True)
class ListedWord:
    key: str
    spellings: tuple[str, ...]  # the key, then every other spelling the watchlist writes it in
    idf: float


@dataclass(slots=True)
class FeatureScore:
    name: str
    value: float  # the base similarity for name_words, else the factor applied
    detail: str


@dataclass(slots=True)
class NameScore:
    score: float
    features: list[FeatureScore] = field(default_factory=list)
    partial: bool = False  # words left over: listed ones left out, or reported ones added

    def explain(self) -> str:
        return "; ".join(f"{f.name} {f.value:.2f}: {f.detail}" for f in self.features)


def weak_word(key: str) -> bool:
    return is_generic(key) or is_place(key)


def weight(key: str, idf: float, person: bool) -> float:
    """What a word weighs in a name: its rarity, lowered for a firm's generic words (Jaya,
    Abadi: in a person's name Lestari or Putra is as telling as any name) and for places."""
    return weigh(idf, is_generic(key), is_place(key), person)


def weigh(idf: float, generic: bool, place: bool, person: bool) -> float:
    if not person and generic:
        return idf * model.GENERIC_FACTOR
    if place:
        return idf * model.PLACE_FACTOR
    return idf


def similarity_of(q: QueryWord, word: ListedWord) -> float:
    return word_similarity((q.key, q.surface) if q.surface != q.key else (q.key,), word.spellings,
                           same=q.key == word.key, query_is_listed=q.listed)


def align(query: list[QueryWord], listed: list[ListedWord], listed_weights: list[float],
          similarity=None) -> list[tuple[int, int, float]]:
    """(query position, listed position, similarity) pairs, best first, each word used once.
    similarity(i, j): the similarity of query word i and listed word j when already known (the
    kernel's neighbourhood gave it); by default words.py's word_similarity."""
    options = []
    for i, q in enumerate(query):
        for j, word in enumerate(listed):
            sim = similarity(i, j) if similarity else similarity_of(q, word)
            if sim > 0.0:
                options.append((sim, listed_weights[j], -i, -j))
    options.sort(reverse=True)
    used_q: set[int] = set()
    used_l: set[int] = set()
    pairs = []
    for sim, _, neg_i, neg_j in options:
        i, j = -neg_i, -neg_j
        if i in used_q or j in used_l:
            continue
        used_q.add(i)
        used_l.add(j)
        pairs.append((i, j, sim))
    return pairs


@dataclass(frozen=True, slots=True)
class Alignment:
    """What the name score saw of a query and a listed name (the kernel's explain gives the same)."""
    pairs: tuple[tuple[int, int, float], ...]  # (query position, listed position, similarity), as aligned
    base: float  # name_words
    middle_dropped: bool
    differing: int  # 0 none, 1 common words or places only, 2 a distinctive word
    form_differs: bool
    kind_differs: bool


def score_reading(query: list[QueryWord], listed: list[ListedWord], *, listed_person: bool,
                  query_form: str | None, listed_form: str | None, query_person: bool | None,
                  in_text: bool, similarity=None) -> NameScore:
    """query_person: the report says the name is a person's (True), an agency's (False), or
    does not say (None). similarity: see align."""
    lw = [weight(w.key, w.idf, listed_person) for w in listed]
    qw = [weigh(w.idf, w.generic, w.place, listed_person) for w in query]
    pairs = align(query, listed, lw, similarity)
    matched_l = {j for _, j, _ in pairs}
    matched_q = {i for i, _, _ in pairs}
    left_out = [j for j in range(len(listed)) if j not in matched_l]
    added = [i for i in range(len(query)) if i not in matched_q]
    added_strong = [i for i in added if not query[i].weak]

    found = sum(lw[j] * sim for _, j, sim in pairs)
    found_weight = sum(lw[j] for _, j, _ in pairs)
    middle_dropped = bool(listed_person and len(listed) >= 3 and left_out and not added_strong
                          and 0 in matched_l and len(listed) - 1 in matched_l)
    left_out_factor = model.LEFT_OUT_MIDDLE_WEIGHT if middle_dropped else model.LEFT_OUT_WEIGHT
    whole = (found_weight + left_out_factor * sum(lw[j] for j in left_out)
             + model.ADDED_WEIGHT * sum(qw[i] for i in added_strong))
    base = found / whole if whole else 0.0
    differing = 0
    if left_out and added:
        common = (all(weak_word(listed[j].key) for j in left_out)
                  and all(query[i].generic or query[i].place for i in added))
        differing = 1 if common else 2
    alignment = Alignment(tuple(pairs), base, middle_dropped, differing,
                          bool(query_form and listed_form and query_form != listed_form),
                          query_person is not None and query_person != listed_person)
    score = base
    if differing:
        score *= model.DIFFERING_WEAK_WORD if differing == 1 else model.DIFFERING_WORD
    if alignment.form_differs:
        score *= model.FORM_DIFFERS
    if alignment.kind_differs:
        score *= model.KIND_DIFFERS
    if in_text:
        score *= model.IN_AD_TEXT
    return NameScore(round(score, 4), features(query, [w.key for w in listed], alignment, listed_person=listed_person,
                                               query_form=query_form, listed_form=listed_form, in_text=in_text),
                     bool(left_out or added_strong))


def features(query: list[QueryWord], listed: list[str], alignment: Alignment, *, listed_person: bool,
             query_form: str | None, listed_form: str | None, in_text: bool) -> list[FeatureScore]:
    """The named features of a name score, each with what it saw (model.FEATURES)."""
    matched_l = {j for _, j, _ in alignment.pairs}
    matched_q = {i for i, _, _ in alignment.pairs}
    left_out = [listed[j] for j in range(len(listed)) if j not in matched_l]
    added = [query[i].written or query[i].key for i in range(len(query)) if i not in matched_q]
    described = []
    for i, j, sim in sorted(alignment.pairs, key=lambda p: p[1]):
        written = query[i].written or query[i].key
        described.append(f"{written}={listed[j]}" if sim == 1.0 else f"{written}~{listed[j]} {sim:.2f}")
    if left_out:
        described.append("not written: " + " ".join(left_out))
    if added:
        described.append("added: " + " ".join(added))
    out = [FeatureScore("name_words", round(alignment.base, 4), ", ".join(described))]
    if alignment.middle_dropped:
        out.append(FeatureScore("dropped_middle_name", model.LEFT_OUT_MIDDLE_WEIGHT, "left out: " + " ".join(left_out)))
    if alignment.differing:
        common = alignment.differing == 1
        out.append(FeatureScore("differing_common_word" if common else "differing_word",
                                model.DIFFERING_WEAK_WORD if common else model.DIFFERING_WORD,
                                " ".join(added) + " where the list has " + " ".join(left_out)))
    if alignment.form_differs:
        out.append(FeatureScore("form_differs", model.FORM_DIFFERS, f"{query_form} / {listed_form}"))
    if alignment.kind_differs:
        out.append(FeatureScore("kind_differs", model.KIND_DIFFERS,
                                "listed as a person" if listed_person else "listed as an agency"))
    if in_text:
        out.append(FeatureScore("in_ad_text", model.IN_AD_TEXT, "read from the ad text"))
    return out


def readings(words: list[QueryWord], make_word, listed_key, split=None) -> list[list[QueryWord]]:
    """The query as written, and the readings of words written joined or split: a word the
    watchlist does not hold that is two listed words run together ("amanahputra"), and two
    neighbours that together are a listed word ("sen tral"). make_word(key, surface, written,
    weak) builds a QueryWord; listed_key(key) tells whether the watchlist holds a word;
    split(surface) is split_joined (a caller may cache it)."""
    out = [words]
    if len(words) == 1 and words[0].listed:  # one listed word: nothing to split, nothing to join
        return out
    split_reading: list[QueryWord] = []
    split_any = False
    for word in words:
        parts = None if word.listed else (split(word.surface) if split else split_joined(word.surface, listed_key))
        if parts:
            split_any = True
            split_reading += [make_word(key, surface, word.written or word.surface, word.weak) for key, surface in parts]
        else:
            split_reading.append(word)
    if split_any:
        out.append(split_reading)
    merged: list[QueryWord] = []
    merged_any = False
    i = 0
    while i < len(words):
        if i + 1 < len(words):
            surface = words[i].surface + words[i + 1].surface
            key = word_key(surface)
            if listed_key(key):
                merged.append(make_word(key, surface, f"{words[i].written or words[i].surface} "
                                                      f"{words[i + 1].written or words[i + 1].surface}", False))
                merged_any = True
                i += 2
                continue
        merged.append(words[i])
        i += 1
    if merged_any:
        out.append(merged)
    return out


MIN_JOINED_PART = 3


def split_joined(surface: str, listed_key) -> list[tuple[str, str]] | None:
    """The two listed words (key, surface) a word is run together from, or None."""
    if len(surface) < 2 * MIN_JOINED_PART:
        return None
    for k in range(MIN_JOINED_PART, len(surface) - MIN_JOINED_PART + 1):
        left, right = word_key(surface[:k]), word_key(surface[k:])
        if listed_key(left) and listed_key(right):
            return [(left, surface[:k]), (right, surface[k:])]
    return None
