"""The `waspada` command: each service, the whole local system, and batch tools."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer

from shared.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Waspada: TPPO alert services.")


@app.command()
def up(demo: bool = typer.Option(True, help="Load the demo agencies and watchlist into an empty database.")) -> None:
    """Run everything locally: embedded broker, dev mail/SMS sinks, the three services."""
    from services.launcher import up as run_up

    raise typer.Exit(run_up(get_settings(), demo=demo))


@app.command()
def init(demo: bool = typer.Option(False, help="Load demo agencies and watchlist into an empty database.")) -> None:
    """Create Kafka topics and database tables (idempotent)."""
    from services.launcher import init_system
    from shared.logs import setup_logging

    setup_logging("init")
    init_system(get_settings(), demo)


@app.command()
def ingest() -> None:
    """Run the ingest service (HTTP API, outbox relay, timeline)."""
    from services.ingest.main import run

    run()


def _run_faust(factory) -> None:
    import faust

    from shared.logs import setup_logging

    settings = get_settings()
    faust_app = factory(settings)
    setup_logging(faust_app.conf.id.removeprefix("waspada-"))  # ours, with the redacting filter
    worker = faust.Worker(faust_app, loglevel="INFO", redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


@app.command()
def matcher() -> None:
    """Run a matcher worker (Faust): screens reports.v1 into matches.v1."""
    from services.matcher.app import create_app

    _run_faust(create_app)


@app.command()
def notifier() -> None:
    """Run a notifier worker (Faust): turns matches.v1 into email and SMS alerts."""
    from services.notifier.app import create_app

    _run_faust(create_app)


@app.command()
def sinks(smtp_port: int = typer.Option(2525), twilio_port: int = typer.Option(8025),
          public_url: str = typer.Option("http://127.0.0.1:8000")) -> None:
    """Run the local SMTP and Twilio-compatible sinks (development only)."""
    from services.devsinks.smtp import start_smtp_sink
    from services.devsinks.twilio import SmsSink, TwilioSinkServer
    from services.launcher import DEV_TWILIO_SID, DEV_TWILIO_TOKEN

    home = get_settings().home
    controller, _ = start_smtp_sink(home / "mail", smtp_port)
    server = TwilioSinkServer(SmsSink(home / "sms", DEV_TWILIO_SID, DEV_TWILIO_TOKEN), twilio_port)
    server.start()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        controller.stop()


@app.command()
def screen(watchlist: Path = typer.Option(..., "--watchlist", exists=True, dir_okay=False, readable=True,
                                          help="Watchlist CSV (id, kind, name, aliases, phones, license_numbers, notes, ...)"),
           min_score: float | None = typer.Option(None, "--min-score", min=0.0, max=1.0,
                                                  help="List matches from this score (default: the alert threshold)")) -> None:
    """Screen reports (JSON lines on stdin) against a watchlist CSV; one JSON line per report on stdout."""
    from services.matcher.batch import screen_command

    raise typer.Exit(screen_command(watchlist, min_score, sys.stdin, sys.stdout, sys.stderr))


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(no_args_is_help=True, help="Retention of personal data in reports.")
app.add_typer(retention_app, name="retention")


def _sessions():
    from shared.db import create_schema, make_engine, make_sessionmaker

    engine = make_engine(get_settings().resolved_database_url)
    create_schema(engine)
    return make_sessionmaker(engine)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; exit 1 and name each broken record if anything was edited."""
    from rich.console import Console

    from services.ingest.audit.service import verify

    verdict = verify(_sessions())
    console = Console(stderr=True)
    for problem in verdict.problems[:100]:
        console.print(f"[red]BROKEN[/red] {problem}")
    if verdict.ok:
        console.print(f"[green]audit log intact[/green]: {verdict.records} records")
        raise typer.Exit(0)
    console.print(f"[red]audit log tampered[/red]: {len(verdict.problems)} problem(s) in {verdict.records} records")
    raise typer.Exit(1)


@retention_app.command("purge")
def retention_purge(days: int | None = typer.Option(None, min=0, help="Retention period (default WASPADA_RETENTION_DAYS)")) -> None:
    """Purge reporter identity, desa and ad text from reports past retention and not on hold (audited)."""
    from services.ingest.reports.service import purge_expired

    retention = get_settings().retention_days if days is None else days
    purged = purge_expired(_sessions(), retention)
    typer.echo(f"purged personal data of {purged} report(s) older than {retention} days")


if __name__ == "__main__":
    app()
