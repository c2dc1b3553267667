"""Names inside ad text: the runs of words that read as a name, each screened like a name field.

An ad names its recruiter in a run of name words between things that are not names:
punctuation (a comma, a full stop, brackets, quotes), numbers, and the everyday words of ads
("hubungi", "di", "gaji": ad_words.json). A company form or a title opens a run ("PT ...",
"Pak ..."); a form after a comma closes the run before it ("Sinar Jaya, PT"). In mixed-case text a
name word is capitalised, or close to a listed word; in text all in capitals or all in lower case
only the vocabulary tells.

The run is the whole name the ad writes, so a word beside the listed ones counts against the
match ("Sakti Jembatan Insan" is not "Agung Jembatan Insan"). Only a word that capitals cannot
tell from the ad's own, and that no listed name holds, is weak: one opening a sentence, or the
last of a run in text all in capitals ("KONTAK PT SINAR JAYA MEMBUKA ..."). It counts as a
differing word but not as an added one."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from services.matcher.screening import rules
from services.matcher.screening.normalize import fold, form_of, is_honorific, word_forms, word_key

_WORD = re.compile(r"[^\W_]+")
_HARD = re.compile(r"[,;:!?()\[\]{}\"“”'‘’/|\n\\<>=+*&#]|\s-\s|\s–\s")
_SENTENCE_END = re.compile(r"[.!?:\n]")
_NOT_OPENERS = {"bin", "binti"}  # honorifics that stand inside a name
MAX_RUN = 8  # words: a longer run is no name


@dataclass(frozen=True, slots=True)
class TextWord:
    key: str
    surface: str
    written: str
    weak: bool
    start: int  # character offsets in the ad
    end: int


@dataclass(frozen=True, slots=True)
class TextName:
    words: tuple[TextWord, ...]
    form: str | None
    titled: bool
    start: int  # character offsets of the name in the ad, its form or title included
    end: int


@lru_cache(maxsize=1)
def ad_vocabulary() -> frozenset[str]:
    """Words any ad is full of ("kami", "gaji", "segera"), the red-flag phrases' words and the
    destination countries' names: alone, none of them is a name."""
    data = rules.ad_words()
    words = [*data["stopwords"], *data["job_ad_words"]]
    flags = rules.red_flags()
    for indicator in flags["indicators"]:
        words += indicator.get("phrases", [])
        words += [phrase for group in indicator.get("all_of", []) for phrase in group]
    words += flags["domestic_work_phrases"]
    words += data["destinations"]
    words += [alias for aliases in rules.moratorium()["countries"].values() for alias in aliases]
    return frozenset(word_key(t) for text in words for t in _WORD.findall(fold(text)))


_ABBREVIATIONS = {"moh", "muh", "mhd", "m", "abd", "h", "hj"}  # followed by a full stop inside a name


def _is_abbreviation(folded: str) -> bool:
    return len(folded) == 1 or folded in _ABBREVIATIONS or form_of(folded) is not None or is_honorific(folded)


def _opens_name(text: str, tokens: list[tuple[int, int, str]], n: int) -> bool:
    """Whether the form at token n opens the name after it ("..., PT Sinar Jaya") rather than
    closing the one before it ("Sinar Jaya, PT WA 0812..."): a word not of ads follows it."""
    if n + 1 >= len(tokens):
        return False
    between = text[tokens[n][1]:tokens[n + 1][0]]
    following = tokens[n + 1][2]
    written = text[tokens[n + 1][0]:tokens[n + 1][1]]
    return (not _HARD.search(between) and (between.strip() in ("", ".")) and following.isalpha()
            and word_key(following) not in ad_vocabulary() and (written[:1].isupper() or written.isupper()))


_FORM, _TITLE, _NUMBER, _AD, _PLAIN = range(5)


@lru_cache(maxsize=100_000)
def _classify(folded: str) -> tuple[int, str, str]:
    """(what the word is, its key or canonical form, its surface) for a folded word: the same
    words recur ad after ad, so each is looked at once."""
    form = form_of(folded)
    if form:
        return _FORM, form, folded
    if is_honorific(folded) and folded not in _NOT_OPENERS:
        return _TITLE, folded, folded
    key, surface = word_forms(folded)
    if any(c.isdigit() for c in surface):  # a number, a phone: no name word
        return _NUMBER, key, surface
    if key in ad_vocabulary():
        _AD_WRITTEN.add(folded)
        return _AD, key, surface
    return _PLAIN, key, surface


_AD_WRITTEN: set[str] = set()  # folded words _classify found to be ad words


def names_in_text(text: str, *, listed: Callable[[str], bool], near_listed: Callable[[str], bool]) -> list[TextName]:
    """listed(key): the watchlist holds the word; near_listed(key): it holds it or a word a typo
    or two away (the kernel's neighbourhood)."""
    if not _could_name(text):
        return []
    tokens = _tokens(text)
    if not tokens:
        return []
    mixed = not text.isupper() and not text.islower()
    names: list[TextName] = []
    run: list[TextWord] = []
    opener: tuple[int, int] | None = None  # offsets of the form or title opening the run
    form: str | None = None
    titled = False
    sentence_start = True
    ads = ad_vocabulary()

    def ad_word_at_edge(word: TextWord) -> bool:
        # in mixed case a listed word written like a name ("Bersama") is the name's; "WA" is not
        return word.key in ads and not (mixed and word.written[:1].isupper() and word.written[1:].islower())

    def close(trailing_form: tuple[str, int] | None = None) -> None:
        nonlocal run, form, titled, opener
        if not run:
            form, titled, opener = None, False, None
            return
        # the ad's own words at a run's edges ("... Sejahtera WA 0812") go; one the watchlist
        # holds stays, weak: "UD RESTU SRIWIJAYA BERSAMA" may be the firm's word or the ad's
        for edge in (-1, 0):
            while run and (edge == -1 or opener is None) and ad_word_at_edge(run[edge]):
                word = run[edge]
                if not listed(word.key) or word.weak:
                    run.pop(edge)
                    continue
                run[edge] = TextWord(word.key, word.surface, word.written, True, word.start, word.end)
                break
        # a run of the ad's own words alone is no name, unless a title or form opens it ("Pak Gaji")
        if not mixed:  # capitals cannot tell a name's last word from the ad's next one ("... MEMBUKA")
            last = run[-1] if run else None
            if last and len(run) > 1 and not last.weak and not near_listed(last.key):
                run[-1] = TextWord(last.key, last.surface, last.written, True, last.start, last.end)
        if run and len(run) <= MAX_RUN and (opener or any(w.key not in ads for w in run)):
            if trailing_form:
                form = trailing_form[0]
            start = opener[0] if opener else run[0].start
            end = trailing_form[1] if trailing_form else run[-1].end
            names.append(TextName(tuple(run), form, titled, start, end))
        run, form, titled, opener = [], None, False, None

    previous_end = 0
    previous_folded = ""
    for n, (start, end, folded) in enumerate(tokens):
        if not run and opener is None and folded in _AD_WRITTEN and text[start:end].islower():
            # the common case, an everyday word between names: it neither closes nor opens one
            sentence_start = False
            previous_end, previous_folded = end, folded
            continue
        before = text[previous_end:start]
        if n and before != " " and (_HARD.search(before) or ("." in before and not _is_abbreviation(previous_folded))):
            what, key, _ = _classify(folded)
            if what == _FORM and run and not form and "," in before and not _opens_name(text, tokens, n):
                close((key, end))  # "Sinar Jaya, PT": the form closes the name before it
                previous_end, previous_folded = end, folded
                continue
            close()
            sentence_start = bool(_SENTENCE_END.search(before))
        previous_end, previous_folded = end, folded
        what, key, surface = _classify(folded)
        if what == _NUMBER:
            close()
            sentence_start = False
            continue
        written = text[start:end]
        if what == _FORM and (key != "cv" or written.isupper()):  # "kirim cv" is a CV
            close()
            form, opener = key, (start, end)
            sentence_start = False
            continue
        if what == _TITLE:
            close()
            titled, opener = True, (start, end)
            sentence_start = False
            continue
        if what == _FORM:  # a "cv" that is a curriculum vitae
            what = _AD
        capitalised = not written.islower()
        opening = sentence_start and not run and opener is None
        sentence_start = False
        weak = False
        if what == _AD:
            name_like = listed(key) and ((mixed and capitalised) or (not mixed and bool(run or opener)))
        elif mixed and not capitalised:
            name_like = near_listed(key)
        else:  # capitalised, or a text that capitals cannot tell about
            name_like = True
            weak = opening and not near_listed(key)
        if not name_like:
            close()
            continue
        run.append(TextWord(key, surface, written, weak, start, end))
    close()
    return names + _surname_first(text, names) if len(names) > 1 else names


def _surname_first(text: str, names: list[TextName]) -> list[TextName]:
    """"Santoso, Wahyudi Cahyadi": a person written surname first, the comma between them, is
    read as one name as well (the two runs alone are still read too)."""
    out = []
    for before, after in zip(names, names[1:]):
        if (text[before.end:after.start].strip() == "," and not before.form and not before.titled
                and not after.form and len(before.words) <= 2 and len(after.words) <= 3):
            out.append(TextName(before.words + after.words, None, False, before.start, after.end))
    return out


def _could_name(text: str) -> bool:
    """Whether any word of the text may be a name's: most ads' words are all the ad's own (the
    set difference runs in C); a word not seen before is looked at."""
    folded = text.lower() if text.isascii() else fold(text)
    for word in set(_WORD.findall(folded)) - _AD_WRITTEN:
        if not word.isdigit() and (_classify(word)[0] != _AD):
            return True
    return False


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded) of each word; a dotted form ("P.T.", "C. V.") is one word."""
    if text.isascii():  # folding keeps every character's place: fold once, then slice
        folded = text.lower()
        tokens = [(m.start(), m.end(), folded[m.start():m.end()]) for m in _WORD.finditer(text)]
    else:
        tokens = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(text)]
    if "." not in text:
        return tokens
    merged = []
    i = 0
    while i < len(tokens):
        start, end, folded = tokens[i]
        if len(folded) == 1 and i + 1 < len(tokens):
            next_start, next_end, next_folded = tokens[i + 1]
            if (len(next_folded) == 1 and text[end:next_start].strip() == "." and text[next_end:next_end + 1] == "."
                    and form_of(folded + next_folded)):
                merged.append((start, next_end + 1, folded + next_folded))
                i += 2
                continue
        merged.append(tokens[i])
        i += 1
    return merged

def warm_up() -> None:
    ad_vocabulary()
