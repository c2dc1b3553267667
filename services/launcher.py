"""Starting the system: `waspada init` (topics, schema, demo data) and `waspada up` (everything,
on embedded defaults). The tests and docker-compose use the same per-service commands."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources

import httpx
from rich.console import Console
from sqlalchemy import func, select

from services.ingest.agencies import service as agencies
from services.ingest.routes import service as routes
from services.ingest.watchlist import service as watchlist
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.embedded_broker import free_port, start_broker
from shared.kafka import ensure_topics, wait_for_broker
from shared.models import AgencyRow, RoutingRule, WatchlistEntryRow
from shared.schemas import AgencyIn, RouteIn, WatchlistEntryIn
from shared.settings import Settings

console = Console(stderr=True, soft_wrap=True)
DEV_TWILIO_SID = "ACdev00000000000000000000000000000"
DEV_TWILIO_TOKEN = "dev-auth-token"


def init_system(settings: Settings, demo: bool) -> None:
    """Create topics and tables (both idempotent); load demo data into an empty database."""
    wait_for_broker(settings.bootstrap)
    ensure_topics(settings.bootstrap, settings.kafka_partitions)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    if demo:
        load_demo(make_sessionmaker(engine))
    engine.dispose()


def load_demo(sessions) -> None:
    data = json.loads(resources.files("services.ingest").joinpath("data/demo.json").read_text())
    with sessions.begin() as s:
        if not s.scalar(select(func.count()).select_from(AgencyRow)):
            for agency in data["agencies"]:
                agencies.create(s, AgencyIn.model_validate(agency))
        if not s.scalar(select(func.count()).select_from(WatchlistEntryRow)):
            for entry in data["watchlist"]:
                watchlist.create(s, WatchlistEntryIn.model_validate(entry))
        if not s.scalar(select(func.count()).select_from(RoutingRule)):
            for route in data["routes"]:
                routes.create(s, RouteIn.model_validate(route))


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def up(settings: Settings, demo: bool = True) -> int:
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WASPADA_HOME=str(home))
    children: list[tuple[str, subprocess.Popen]] = []
    waspada = [sys.executable, "-m", "services.cli"]

    def spawn(name: str, *args: str) -> subprocess.Popen:
        log = open(home / f"{name}.log", "ab")
        # Own session: Ctrl-C reaches only this launcher, which stops children in order.
        proc = subprocess.Popen([*waspada, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        children.append((name, proc))
        return proc

    def stop_all(*_):
        # Services first (they flush and commit while the broker still answers), then sinks, broker last.
        services = [p for n, p in children if n in ("ingest", "matcher", "notifier")]
        rest = [p for n, p in reversed(children) if n not in ("ingest", "matcher", "notifier")]
        for group in (services, rest):
            for proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in group:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    try:
        if not settings.kafka_bootstrap:
            port = 9092 if _port_free(9092) else free_port()
            children.append(("broker", start_broker(port, home / "broker.log")))
            env["WASPADA_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
        sinks_note = []
        if not settings.smtp_host or not settings.twilio_account_sid:
            smtp_port, twilio_port = free_port(), free_port()
            args = ["sinks", "--smtp-port", str(smtp_port), "--twilio-port", str(twilio_port),
                    "--public-url", settings.resolved_public_url]
            spawn("sinks", *args)
            if not settings.smtp_host:
                env.update(WASPADA_SMTP_HOST="127.0.0.1", WASPADA_SMTP_PORT=str(smtp_port), WASPADA_SMTP_TLS="none")
                sinks_note.append(f"mail   -> {home / 'mail'} (local SMTP sink on :{smtp_port})")
            if not settings.twilio_account_sid:
                env.update(WASPADA_TWILIO_ACCOUNT_SID=DEV_TWILIO_SID, WASPADA_TWILIO_AUTH_TOKEN=DEV_TWILIO_TOKEN,
                           WASPADA_TWILIO_FROM="+15005550006",
                           WASPADA_TWILIO_API_BASE=f"http://127.0.0.1:{twilio_port}")
                sinks_note.append(f"sms    -> {home / 'sms' / 'messages.jsonl'} (Twilio-compatible sink on :{twilio_port})")
        if not settings.admin_token:
            token_file = home / "admin-token"
            if not token_file.exists():
                import secrets
                token_file.write_text("adm_" + secrets.token_urlsafe(24))
                token_file.chmod(0o600)
            env["WASPADA_ADMIN_TOKEN"] = token_file.read_text().strip()
        init = subprocess.run([*waspada, "init", *(["--demo"] if demo else [])], env=env)
        if init.returncode:
            console.print("[red]init failed[/red]")
            return init.returncode
        for service in ("ingest", "matcher", "notifier"):
            spawn(service, service)
        url = settings.resolved_public_url
        if not _wait_healthy(f"http://{settings.http_host}:{settings.http_port}/healthz", children, timeout_s=90):
            console.print(f"[red]services did not become healthy; see the logs in {home}[/red]")
            return 1
        console.print(f"[bold green]Waspada is up[/bold green]\n"
                      f"API    -> {url}  (OpenAPI at {url}/docs)\n"
                      f"admin  -> bearer token in {home / 'admin-token'} (or WASPADA_ADMIN_TOKEN)\n"
                      + "\n".join(sinks_note) + f"\nlogs   -> {home}/*.log\nCtrl-C stops everything.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    console.print(f"[red]{name} exited with {proc.returncode}; stopping[/red]")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping...")
        return 0
    finally:
        stop_all()


def _wait_healthy(url: str, children, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for _, proc in children):
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False
