"""The local SMTP sink records each message as the modern email parser reads it, whichever way
it parsed it: the quick way for what the notifier sends, the full parse for anything else."""
from __future__ import annotations

import random
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from services.devsinks import smtp
from services.devsinks.smtp import summary, summary_full
from services.notifier.channels import build_email

WORDS = ["Kasus", "RPT-0000ABCD", "Periksa", "laporan", "dan", "tindak", "lanjuti", "Dinas", "Sosial", "PPPA",
         "ü", "São Tomé", "日本語", "🙂", "=?utf-8?q?x?=", "a=b", "tab\there", "\"quoted\"", "x" * 90, "", "..."]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _wire(message) -> bytes:
    """As aiosmtpd hands the content to the sink: CRLF line endings."""
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _notifier_emails(count: int, seed: int):
    rng = random.Random(seed)
    for i in range(count):
        body = "\n".join(_text(rng, rng.randint(0, 30)) for _ in range(rng.randint(1, 12)))
        yield (build_email(rng.choice(["waspada@test.example", "Waspada Cilacap <w@dinas.example>"]),
                                [f"desk{j}@agency.example" for j in range(rng.randint(1, 3))],
                                _text(rng, rng.randint(1, 25)), body, f"al_{i:024d}").content)


@pytest.mark.parametrize("seed", [1, 2])
def test_notifier_emails_are_summarised_as_the_full_parse_reads_them(seed, monkeypatch):
    emails = list(_notifier_emails(150, seed))
    expected = [summary_full(content) for content in emails]

    def not_expected(content):
        raise AssertionError("a notifier email took the full parse")

    monkeypatch.setattr(smtp, "summary_full", not_expected)
    assert [summary(content) for content in emails] == expected


def test_other_messages_are_summarised_as_the_full_parse_reads_them():
    latin = MIMEText("Grüße aus Cilacap", "plain", "iso-8859-1")
    latin["Subject"] = "=?iso-8859-1?q?Gr=FC=DFe?= und mehr"
    multipart = MIMEMultipart("alternative")
    multipart.attach(MIMEText("plain part", "plain"))
    multipart.attach(MIMEText("<p>html part</p>", "html"))
    multipart["Subject"] = "two parts"
    attached = MIMEText("an attachment", "plain")
    attached["Content-Disposition"] = "attachment; filename=a.txt"
    raw = [
        b"Subject: first\r\nSubject: second\r\nMessage-ID: <m@x>\r\n\r\nno MIME headers at all\r\n",
        b"Subject: 8-bit \xc3\xbc\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody \xc3\xbc\r\n",
        b"Subject: folded\r\n  over\r\n\tthree lines\r\nContent-Type: text/plain; charset*=utf-8''%C3%BC\r\n\r\nx\r\n",
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nbody\r\n",
        b"Content-Type: TEXT/PLAIN\r\nContent-Transfer-Encoding: base64\r\n\r\nYm9keQ==\r\n",
    ]
    for content in [_wire(latin), _wire(multipart), _wire(attached), *raw]:
        try:
            expected = summary_full(content)
        except Exception as exc:  # noqa: BLE001 - then the sink fails alike
            with pytest.raises(type(exc)):
                summary(content)
            continue
        assert summary(content) == expected, content
