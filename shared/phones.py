"""Phone numbers as one key (E.164), however they are written: used by screening, reviewers'
suppressions and the SMS reply webhook, so all three agree on what "the same number" is."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# wa.me and api.whatsapp.com links carry the number itself
WA_LINK = re.compile(r"(?:wa\.me|api\.whatsapp\.com/send\?phone=|whatsapp\.com/send/\?phone=)/?\+?(\d{8,15})", re.I)


@lru_cache(maxsize=200_000)
def phone_key(value: str) -> str | None:
    """E.164 for a valid number written in any common form (0812..., +62 812..., 62812...,
    a wa.me link), else None."""
    wa = WA_LINK.search(value)
    if wa:
        value = "+" + wa.group(1)
    digits = re.sub(r"\D", "", value)
    if value.strip().startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("62") and len(digits) >= 10:
        candidate = "+" + digits
    else:
        candidate = digits
    try:
        number = phonenumbers.parse(candidate, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
