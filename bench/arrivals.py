"""SMS arrivals at the Twilio-compatible sink, by the case reference each alert carries."""
from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable

_CASE_REF = re.compile(r"RPT-([0-9A-F]{8})")


def record_sms_arrivals(sinks, clock: Callable[[], float] = time.monotonic) -> dict[str, list[float]]:
    """Case ref (the report id's first 8 hex digits, lower case) -> when each SMS naming it
    arrived, on `clock`; more than one is a duplicate."""
    arrivals: dict[str, list[float]] = defaultdict(list)
    store = sinks.sms.store

    def timed_store(form: dict) -> dict:
        ref = _CASE_REF.search(form.get("Body", ""))
        if ref:
            arrivals[ref.group(1).lower()].append(clock())
        return store(form)

    sinks.sms.store = timed_store
    return arrivals
