"""Logging set-up. Logs carry ids, never personal data: code logs ids only, and a filter
masks anything shaped like a phone number or an email address as a second line of defence."""
from __future__ import annotations

import logging
import re
import sys

_PHONE = re.compile(r"(?<![\w])(?:\+?62|0)[\s\-.()]*8[\d\s\-.()]{7,14}\d")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+")


def redact(text: str) -> str:
    return _EMAIL.sub("[email]", _PHONE.sub("[phone]", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The twilio SDK logs whole requests (recipient, body) at INFO; aiokafka is chatty.
    for noisy in ("twilio", "twilio.http_client", "aiokafka", "kafka", "mail.log", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
