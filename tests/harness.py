"""Starts the real system for tests: the embedded broker, then each service as its own process
with the same commands docker-compose runs (`waspada init|ingest|matcher|notifier`), talking
to a real SMTP server (aiosmtpd) and a Twilio-compatible server run by the test process."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.devsinks.smtp import MailSink, start_smtp_sink
from services.devsinks.twilio import SmsSink, TwilioSinkServer
from shared.embedded_broker import free_port, start_broker

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "matcher", "notifier")


@dataclass
class Sinks:
    mail: MailSink
    sms: SmsSink
    smtp_port: int
    twilio_port: int
    _stop: list = field(default_factory=list)

    def stop(self) -> None:
        for stop in self._stop:
            stop()


def start_sinks(folder: Path) -> Sinks:
    smtp_port, twilio_port = free_port(), free_port()
    controller, mail = start_smtp_sink(folder / "mail", smtp_port)
    sms = SmsSink(folder / "sms", "AC" + secrets.token_hex(16), secrets.token_hex(16))
    server = TwilioSinkServer(sms, twilio_port)
    server.start()
    return Sinks(mail, sms, smtp_port, twilio_port, [server.stop, controller.stop])


class Stack:
    def __init__(self, home: Path, database_url: str, sinks: Sinks, extra_env: dict | None = None) -> None:
        self.home = home
        self.sinks = sinks
        self.database_url = database_url
        self.http_port = free_port()
        self.broker_port = free_port()
        self.admin_token = "adm_" + secrets.token_urlsafe(16)
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WASPADA_")},
            "WASPADA_HOME": str(home),
            "WASPADA_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.broker_port}",
            "WASPADA_DATABASE_URL": database_url,
            "WASPADA_HTTP_HOST": "127.0.0.1",
            "WASPADA_HTTP_PORT": str(self.http_port),
            "WASPADA_ADMIN_TOKEN": self.admin_token,
            "WASPADA_SMTP_HOST": "127.0.0.1",
            "WASPADA_SMTP_PORT": str(sinks.smtp_port),
            "WASPADA_SMTP_TLS": "none",
            "WASPADA_MAIL_FROM": "waspada@test.example",
            "WASPADA_TWILIO_ACCOUNT_SID": sinks.sms.account_sid,
            "WASPADA_TWILIO_AUTH_TOKEN": sinks.sms.auth_token,
            "WASPADA_TWILIO_FROM": "+15005550006",
            "WASPADA_TWILIO_API_BASE": f"http://127.0.0.1:{sinks.twilio_port}",
            "WASPADA_PUBLIC_URL": self.base_url,
            "WASPADA_SMS_PER_S": "50",
            "WASPADA_ESCALATE_AFTER_S": "3",  # urgent alerts not acknowledged in 3 s escalate
            "WASPADA_RATE_LIMIT_PER_S": "1000",  # tests share a few tokens; the limit has its own test
            "WASPADA_RATE_LIMIT_BURST": "2000",
            **(extra_env or {}),
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.broker: subprocess.Popen | None = None
        self.api = httpx.Client(base_url=self.base_url, timeout=10,
                                headers={"Authorization": f"Bearer {self.admin_token}"})

    # ------------------------------------------------------------ processes
    def waspada(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "services.cli", *args]

    def start(self) -> "Stack":
        self.home.mkdir(parents=True, exist_ok=True)
        self.broker = start_broker(self.broker_port, self.home / "broker.log")
        subprocess.run(self.waspada("init"), env=self.env, check=True, cwd=REPO,
                       stdout=open(self.home / "init.log", "ab"), stderr=subprocess.STDOUT, timeout=120)
        for name in SERVICES:
            self.start_service(name)
        self.wait_healthy()
        return self

    def start_service(self, name: str, instance: str | None = None) -> subprocess.Popen:
        key = instance or name
        env = dict(self.env, WASPADA_NOTIFIER_INSTANCE=key) if name == "notifier" else self.env
        proc = subprocess.Popen(self.waspada(name), env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=open(self.home / f"{key}.log", "ab"), stderr=subprocess.STDOUT)
        self.procs[key] = proc
        return proc

    def stop_service(self, key: str, kill: bool = False) -> None:
        proc = self.procs.pop(key)
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            for key, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{key} exited with {proc.returncode}:\n{self.log_tail(key)}")
            try:
                last = self.api.get("/healthz")
                if last.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"stack not healthy in {timeout_s}s: {last and last.text}\n"
                           + "\n".join(self.log_tail(k) for k in self.procs))

    def log_tail(self, key: str, lines: int = 40) -> str:
        path = self.home / f"{key}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {key}.log\n" + "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.home.glob("*.log")))

    def stop(self) -> None:
        for key in list(self.procs):
            self.stop_service(key)
        if self.broker:
            self.broker.terminate()
            self.broker.wait(timeout=10)
        self.api.close()

    # ------------------------------------------------------------ helpers
    def token(self, role: str, agency_code: str | None = None) -> str:
        body = {"name": f"test {role}", "role": role}
        if agency_code:
            body["agency_code"] = agency_code
        response = self.api.post("/v1/tokens", json=body)
        response.raise_for_status()
        return response.json()["token"]

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, headers={"Authorization": f"Bearer {token}"})


def wait_for(predicate, timeout_s: float = 30, interval_s: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
