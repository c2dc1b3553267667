"""Phone numbers as one key (E.164), however they are written: used by screening, reviewers'
suppressions and the SMS reply webhook, so all three agree on what "the same number" is."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# wa.me and api.whatsapp.com links carry the number itself
WA_LINK = re.compile(r"(?:wa\.me|api\.whatsapp\.com/send\?phone=|whatsapp\.com/send/\?phone=)/?\+?(\d{8,15})", re.I)
_NOT_DIGIT = re.compile(r"\D")
# Twilio writes WhatsApp addresses as "whatsapp:+62812..."; the number is the same person's
_ADDRESS_PREFIX = re.compile(r"^\s*(?:whatsapp|sms|tel):", re.I)


@lru_cache(maxsize=200_000)
def phone_key(value: str) -> str | None:
    """E.164 for a valid number written in any common form (0812..., +62 812..., 62812...,
    a wa.me link, Twilio's "whatsapp:+62..." address), else None."""
    value = _ADDRESS_PREFIX.sub("", value)
    wa = WA_LINK.search(value)
    if wa:
        value = "+" + wa.group(1)
    digits = _NOT_DIGIT.sub("", value)
    if value.strip().startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("62") and len(digits) >= 10:
        candidate = "+" + digits
    else:
        candidate = digits
    fast = _indonesian_mobile_key(candidate)
    if fast:
        return fast
    return _parsed_key(candidate)


def _indonesian_mobile_key(candidate: str) -> str | None:
    """The common case without phonenumbers (whose parse costs ~40 us, most of building a large
    watchlist index): an Indonesian mobile number, 08... or +628.... For these, parse with
    region ID only drops the trunk 0 or the country code and the rest is a length check (7 to 17
    digits: shorter ones keep their 0), so the result is the same; tests/screening compares the two."""
    if candidate.startswith("08"):
        national = candidate[1:]
    elif candidate.startswith("+628"):
        national = candidate[3:]
    else:
        return None
    return "+62" + national if 7 <= len(national) <= 17 else None


def _parsed_key(candidate: str) -> str | None:
    try:
        number = phonenumbers.parse(candidate, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
