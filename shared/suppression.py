"""False-positive suppression keys: how a reviewer's "this value is not that entry" decision is
remembered. The ingest writes keys, the matcher compares them, so both use this one function."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from shared.phones import phone_key

_PHONE_LIKE = re.compile(r"^[\d+()\-./\s]{8,}$")


@lru_cache(maxsize=100_000)
def suppression_key(value: str) -> str:
    """A phone number as E.164 whatever its spelling; anything else folded (case, accents,
    punctuation, spacing), so "PT. Maju-Jaya" and "pt maju jaya" are one key."""
    if _PHONE_LIKE.match(value) and (key := phone_key(value)):
        return key
    folded = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", folded))[:300]
