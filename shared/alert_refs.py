"""References printed in alerts and read back when an officer answers: the case reference and
the acknowledgement code. Both the notifier (writing) and the ingest (reading) use these."""
from __future__ import annotations

import hashlib
import re

ACK_REPLY = re.compile(r"^\s*(?:OK|SIAP|TERIMA)\s+([A-Za-z0-9]{6})\b", re.I)


def case_ref(report_id: str) -> str:
    return "RPT-" + report_id.removeprefix("rpt_")[:8].upper()


def ack_code(alert_id: str) -> str:
    return hashlib.sha256(alert_id.encode()).hexdigest()[:6].upper()


def parse_ack_reply(body: str) -> str | None:
    match = ACK_REPLY.match(body or "")
    return match.group(1).upper() if match else None
