"""Emails are written as bytes by hand: they must be the very bytes that the email package's
compat32 MIMEText, flattened as aiosmtplib flattens it, made of the same parts, and go to the
envelope addresses aiosmtplib would have taken from its headers."""
from __future__ import annotations

import random
from email.header import Header
from email.mime.text import MIMEText

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message
from aiosmtplib.protocol import normalize_message_line_endings

from services.notifier.channels import _UTF8_QP, DeliveryError, build_email, message_id

PIECES = ["Kasus", "RPT-0000ABCD", "PERLU TINDAK LANJUT", "Periksa", "laporan", "ü", "São Tomé", "日本語", "🙂",
          "=?utf-8?q?x?=", "a=b", "tab\there", "\"quoted\"", "x" * 120, "", " ", "  ", "...", ".", ":", ";", "=",
          "ends with space ", "trailing=", "\u00a0", "ÿ" * 40]


def _reference(sender: str, recipients: list[str], subject: str, body: str, alert_id: str) -> MIMEText:
    """How the notifier built its messages before: a compat32 MIMEText."""
    msg = MIMEText(body, "plain", _UTF8_QP)
    for name, value in {"From": sender, "To": ", ".join(recipients), "Subject": subject,
                        "X-Waspada-Alert": alert_id}.items():
        msg[name] = value if value.isascii() else Header(value, "utf-8")
    msg["Message-ID"] = message_id(alert_id, sender)
    return msg


def _text(rng: random.Random, words: int, sep=" ") -> str:
    return sep.join(rng.choice(PIECES) for _ in range(words))


@pytest.mark.parametrize("seed", range(3))
def test_emails_are_the_bytes_the_email_package_made(seed):
    rng = random.Random(seed)
    for i in range(300):
        sender = rng.choice(["waspada@test.example", "Waspada Cilacap <waspada@dinas.example>",
                             "\"Dinas, PPPA\" <w@x.example>", "Waspada Jawa Tengah Ü <w@x.example>"])
        recipients = [rng.choice(["desk@agency.example", "Piket <piket@polri.example>", f"d{j}@a.example"])
                      for j in range(rng.randint(1, 4))]
        subject = _text(rng, rng.randint(0, 30))
        body = "".join(_text(rng, rng.randint(0, 25)) + rng.choice(["\n", "\r\n", "\n\n", ""])
                       for _ in range(rng.randint(0, 15)))
        alert = f"al_{rng.getrandbits(96):024x}"
        built = build_email(sender, recipients, subject, body, alert)
        reference = _reference(sender, recipients, subject, body, alert)
        assert built.content == normalize_message_line_endings(flatten_message(reference, cte_type="8bit"))
        assert built.sender == extract_sender(reference)
        assert built.recipients == extract_recipients(reference)
        assert built.message_id == reference["Message-ID"]
        assert built.content.isascii()


def test_a_header_with_a_line_break_is_refused():
    for field in ("subject", "sender", "recipient", "alert"):
        values = {"sender": "w@x.example", "recipient": "d@a.example", "subject": "s", "alert": "al_1"}
        values[field] += "\r\nBcc: someone@else.example"
        with pytest.raises(DeliveryError):
            build_email(values["sender"], [values["recipient"]], values["subject"], "body", values["alert"])
