"""An aiosmtpd SMTP server that stores each message as an .eml file plus a JSON line."""
from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class MailSink:
    """aiosmtpd handler. `fail_next(n, "451 ...")` makes the next n DATA commands fail;
    `refuse_recipients` answers RCPT with 550 for those addresses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.messages: list[dict] = []
        self.refuse_recipients: set[str] = set()
        self._faults: deque[tuple[str, str | None]] = deque()  # (reply, only for this recipient)
        self._lock = threading.Lock()

    def fail_next(self, count: int, reply: str = "451 4.3.0 Try again later", rcpt: str | None = None) -> None:
        """The next `count` messages (to that recipient only, if given) are refused at DATA."""
        with self._lock:
            self._faults.extend([(reply, rcpt)] * count)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.lower() in self.refuse_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self._lock:
            for fault in self._faults:
                if fault[1] is None or fault[1] in envelope.rcpt_tos:
                    self._faults.remove(fault)
                    return fault[0]
            n = len(self.messages) + 1
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            record = {
                "n": n, "at": datetime.now(UTC).isoformat(), "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos), "subject": str(parsed["Subject"] or ""),
                "message_id": str(parsed["Message-ID"] or ""), "alert_id": str(parsed["X-Waspada-Alert"] or ""),
                "body": parsed.get_body(preferencelist=("plain",)).get_content() if parsed.get_body() else "",
                "file": f"{n:06d}.eml",
            }
            (self.folder / record["file"]).write_bytes(envelope.content)
            with open(self.folder / "index.jsonl", "a", encoding="utf-8") as index:
                index.write(json.dumps({k: v for k, v in record.items() if k != "body"}) + "\n")
            self.messages.append(record)
        return "250 Message accepted for delivery"


def start_smtp_sink(folder: Path, port: int, host: str = "127.0.0.1") -> tuple[Controller, MailSink]:
    sink = MailSink(folder)
    controller = Controller(sink, hostname=host, port=port)
    controller.start()
    return controller, sink
