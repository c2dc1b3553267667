"""Identifiers as exact keys: phone numbers (E.164), licence numbers, social handles, URLs.
Found both in their own fields and inside free text: the matcher screens them, the ingest
takes them out of feed ads, so both read an ad the same way."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import phonenumbers

from shared.phones import WA_LINK, phone_key

_BARE_62 = re.compile(r"(?<!\d)62[\s\-.]?8[\d\s\-.]{7,14}\d(?!\d)")
_HANDLE_IN_TEXT = re.compile(r"(?<![\w@.])@([a-z0-9_](?:[a-z0-9_.]{1,28}[a-z0-9_]))", re.I)
_URL_IN_TEXT = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(/[^\s\"'<>()]*)?", re.I)
_ANY_DIGIT = re.compile(r"\d")
_LICENCE_SEPARATORS = re.compile(r"[\s\-./:_]+")
_SOCIAL_HOSTS = {"instagram.com", "tiktok.com", "facebook.com", "fb.com", "twitter.com", "x.com", "t.me",
                 "youtube.com", "threads.net"}
_NOT_DOMAINS = {"pt", "cv", "ud", "no", "jl", "rp"}


def fold(text: str) -> str:
    """Lower case, no accents, ASCII only."""
    if text.isascii():  # most values: skip the per-character pass
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


# An Indonesian mobile number (081-089) written plainly (08... or +628... whole, or 08xx-xxxx-xxxx),
# standing alone between spaces or before end punctuation
_PLAIN_MOBILE = re.compile(
    r"(?:(?<=\s)|^)((?:\+62|0)8[1-9]\d{7,9}|08[1-9]\d-\d{4}-\d{3,4})(?=\s|$|[,;!?](?:\s|$)|\.(?:\s|$))")


def _plain_mobiles(text: str) -> list[tuple[str, str]] | None:
    """The numbers of a text whose only digits are plainly written mobile numbers (most ads: one
    WhatsApp number), without the phonenumbers matcher, which costs ~40 us a number; None for
    any other text. Gives what the matcher gives: tests/screening compares the two."""
    found = []
    for match in _PLAIN_MOBILE.finditer(text):
        key = phone_key(match.group(1))
        if key is None:
            return None
        found.append((key, match.group(1)))
    if _ANY_DIGIT.search(_PLAIN_MOBILE.sub("", text)):
        return None  # other digits: a landline, a foreign number, a price... the matcher decides
    return found


# Digits as the phonenumbers matcher groups them: blocks joined by up to four characters of its
# punctuation (a superset here: any character that is no letter, digit or underscore, and the
# "x" and "ー" it also allows). A number needs at least five digits (Indonesia's shortest local
# numbers; +CC and four digits elsewhere), so a line whose runs are all shorter holds none:
# ages, salaries and dates ("usia 18-35", "gaji 25 juta") then skip the matcher.
_DIGIT_RUN = re.compile(r"\d(?:(?:[^\w]|[xXー]){0,4}\d)*")
_MIN_NUMBER_DIGITS = 5


def _may_hold_number(text: str) -> bool:
    return any(sum(c.isdigit() for c in run.group()) >= _MIN_NUMBER_DIGITS for run in _DIGIT_RUN.finditer(text))


def _numbers(text: str, found: dict[str, str], fast: bool) -> None:
    plain = _plain_mobiles(text) if fast else None
    if plain is not None:
        for key, raw in plain:
            found.setdefault(key, raw)
    elif not fast or _may_hold_number(text):
        for match in phonenumbers.PhoneNumberMatcher(text, "ID", leniency=phonenumbers.Leniency.POSSIBLE):
            found.setdefault(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
                             match.raw_string)


def phones_in_text(text: str, *, plain_fast_path: bool = True) -> list[tuple[str, str]]:
    """(as written, E.164) for every phone number in free text. plain_fast_path=False runs the
    phonenumbers matcher over the whole text (tests compare the two)."""
    found: dict[str, str] = {}
    if not _ANY_DIGIT.search(text):  # no digit, no number: skip the (slow) phonenumbers matcher
        return []
    if plain_fast_path:
        # The matcher's punctuation holds no line break, so no number spans two lines: each
        # line is read on its own, and most ad lines then take a fast path or hold no number
        for line in text.split("\n"):
            if _ANY_DIGIT.search(line):
                _numbers(line, found, fast=True)
    else:
        _numbers(text, found, fast=False)
    for pattern in (WA_LINK, _BARE_62):
        for match in pattern.finditer(text):
            key = phone_key(match.group(0))
            if key:
                found.setdefault(key, match.group(0))
    return [(raw, key) for key, raw in found.items()]


def licence_key(value: str) -> str | None:
    """No public format exists (SIP3MI numbers vary): compare upper-case alphanumerics only."""
    key = _LICENCE_SEPARATORS.sub("", fold(value)).upper()
    return key if len(key) >= 4 and any(c.isdigit() for c in key) else None


def licence_candidates_in_text(text: str) -> list[tuple[str, str]]:
    """Runs of up to six words (numbers are also written with spaces: "SIP3MI / 12 / 2020")
    that hold a digit and could be licence numbers; only exact lookups follow."""
    words = [w.strip(",;()[]\"'") for w in text.split()]
    digits = [any(c.isdigit() for c in w) for w in words]
    out = []
    for i in range(len(words)):
        has_digit = False
        for n in range(1, 7):
            if i + n > len(words):
                break
            has_digit = has_digit or digits[i + n - 1]
            if has_digit:
                span = " ".join(words[i:i + n])
                key = licence_key(span)
                if key:
                    out.append((span, key))
    return out


def handle_key(value: str) -> str | None:
    value = fold(value.strip())
    if "/" in value:  # a profile URL
        parts = urlsplit(value if "//" in value else "//" + value)
        path = [p for p in parts.path.split("/") if p]
        value = path[0] if path else ""
    value = value.lstrip("@").strip().rstrip(".")
    return value if re.fullmatch(r"[a-z0-9_.]{2,60}", value) else None


def handles_in_text(text: str) -> list[tuple[str, str]]:
    out = [(m.group(0), m.group(1).lower()) for m in _HANDLE_IN_TEXT.finditer(text)]
    for raw, host, path in _urls(text):
        if host in _SOCIAL_HOSTS and path:
            key = handle_key(f"{host}{path}")
            if key:
                out.append((raw, key))
    return out


def url_key(value: str) -> str | None:
    """host + path, lower case, no scheme, www, query, fragment or trailing slash."""
    value = fold(value.strip())
    parts = urlsplit(value if "//" in value else "//" + value)
    host = (parts.hostname or "").removeprefix("www.")
    if "." not in host or host.split(".")[0] in _NOT_DOMAINS:
        return None
    path = parts.path.rstrip("/")
    return host + path


# What every web address in text has (a letter or digit, a dot, two letters): a text without it
# holds none, and is not scanned with the (backtracking) address pattern at every word
_DOTTED = re.compile(r"[a-z0-9-]\.[a-z]{2}", re.I)


def _urls(text: str):
    if not _DOTTED.search(text):
        return
    for match in _URL_IN_TEXT.finditer(text):
        host = match.group(1).lower().removeprefix("www.")
        if host.split(".")[0] in _NOT_DOMAINS or host[-1].isdigit():
            continue
        yield match.group(0), host, (match.group(2) or "").rstrip("/.,")


def urls_in_text(text: str) -> list[tuple[str, str]]:
    return [(raw, host + path) for raw, host, path in _urls(text)]
