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


feed_app = typer.Typer(no_args_is_help=True, help="Bulk feeds of job ads.")
app.add_typer(feed_app, name="feed")


@feed_app.command("import")
def feed_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                            help="JSON Lines of schema.org JobPosting objects, or a scraper's CSV"),
                source: str = typer.Option(..., "--source", help="The feed's name (a-z, 0-9, . _ -)"),
                fmt: str | None = typer.Option(None, "--format", help="jobposting or csv (default: by the file's suffix)"),
                api_url: str | None = typer.Option(None, "--api-url", envvar="WASPADA_API_URL",
                                                   help="The running API (default: WASPADA_PUBLIC_URL)"),
                token: str | None = typer.Option(None, "--token", envvar="WASPADA_TOKEN",
                                                 help="An operator or admin token (default: WASPADA_ADMIN_TOKEN)"),
                progress: bool = typer.Option(True, help="Show a progress bar")) -> None:
    """Import a file of job ads into the running system: each new ad a report, screened and
    routed like any; ads seen before are counted, never reported twice. Exit 1 if any line was
    rejected (the others are imported), 2 if the file could not be imported."""
    from pydantic import TypeAdapter, ValidationError
    from rich.console import Console

    from services.ingest.feeds.importer import FeedFileError, guess_format, import_file, report
    from shared.schemas import FeedSource

    err = Console(stderr=True)
    fmt = fmt or guess_format(file)
    if fmt not in ("jobposting", "csv"):
        raise typer.BadParameter("jobposting or csv", param_hint="--format")
    try:
        TypeAdapter(FeedSource).validate_python(source)
    except ValidationError:
        raise typer.BadParameter("a-z, 0-9, dot, dash and underscore, up to 64", param_hint="--source") from None
    settings = get_settings()
    token = token or (settings.admin_token.get_secret_value() if settings.admin_token else None)
    if not token:
        raise typer.BadParameter("give an operator or admin token (or set WASPADA_TOKEN)", param_hint="--token")
    try:
        result = import_file(file, source=source, fmt=fmt, api_url=api_url or settings.resolved_public_url,
                             token=token, console=err, progress=progress)
    except Exception as exc:  # an unreadable file, or the API refusing or unreachable after retries
        what = str(exc) if isinstance(exc, FeedFileError) else f"{type(exc).__name__}: {exc}"
        err.print(f"[red]feed import failed[/red]: {what}", highlight=False)
        raise typer.Exit(2) from None
    report(result, source, sys.stdout, err)
    raise typer.Exit(1 if result.rejected else 0)


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
    """Purge reporter identity, desa and ad text from reports past retention and not on hold,
    and the sender and text of tips past retention (audited)."""
    from services.ingest.reports.service import purge_expired
    from services.ingest.tips.service import purge_expired as purge_expired_tips

    retention = get_settings().retention_days if days is None else days
    sessions = _sessions()
    purged = purge_expired(sessions, retention)
    tips = purge_expired_tips(sessions, retention)
    typer.echo(f"purged personal data of {purged} report(s) and {tips} tip(s) older than {retention} days")


if __name__ == "__main__":
    app()
