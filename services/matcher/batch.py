"""`waspada screen --watchlist WATCHLIST.csv [--min-score S] < reports.jsonl > matches.jsonl`

One JSON line out per report line in, in input order; only JSON on stdout, progress on stderr."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.matcher.screening import ScreeningEngine
from shared.schemas import ReportContent, WatchlistEntry
from shared.watchlist_csv import WatchlistCsvError, parse


class BatchReport(ReportContent):
    """A reports.jsonl line: the API's report schema; other keys (channel, location, ...) allowed."""

    model_config = {"extra": "ignore"}
    id: str | int | None = None
    minors: bool = False


def _report(line: str) -> BatchReport:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("a report must be a JSON object")
    victims = data.get("victims") or {}
    if isinstance(victims, dict) and victims.get("minors"):
        data["minors"] = True
    data = {k: v for k, v in data.items() if v is not None}
    return BatchReport.model_validate(data)


def screen_command(watchlist: Path, min_score: float | None, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    console = Console(file=stderr, soft_wrap=True)
    try:
        with open(watchlist, encoding="utf-8", newline="") as handle:
            rows = parse(handle)
    except WatchlistCsvError as exc:
        for problem in exc.problems:
            console.print(f"[red]{watchlist}: {problem}[/red]", highlight=False)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]{watchlist}: {exc}[/red]", highlight=False)
        return 2
    engine = ScreeningEngine(WatchlistEntry(**row.model_dump(exclude={"id"}), id=row.id) for row in rows)
    lines = stdin.readlines()
    failures = 0
    with Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=len(lines) < 1000) as progress:
        task = progress.add_task("screening", total=len(lines))
        for number, line in enumerate(lines, start=1):
            progress.advance(task)
            if not line.strip():
                continue
            try:
                report = _report(line)
            except (ValueError, ValidationError) as exc:
                failures += 1
                message = str(exc).splitlines()[0]
                console.print(f"[yellow]reports line {number}: {message}[/yellow]", highlight=False)
                stdout.write(json.dumps({"report_id": None, "line": number, "error": message,
                                         "matches": [], "indicators": []}) + "\n")
                continue
            result = engine.screen(report, min_score=min_score)
            stdout.write(json.dumps({
                "report_id": report.id,
                "matches": [m.model_dump(mode="json", include={"entry_id", "entry_name", "score", "band", "evidence"})
                            for m in result.matches],
                "indicators": [i.model_dump(mode="json") for i in result.indicators],
                "categories": result.categories,
                "risk_level": result.risk_level.value,
            }, ensure_ascii=False) + "\n")
    return 1 if failures else 0
