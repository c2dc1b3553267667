"""`waspada screen --watchlist WATCHLIST.csv [--min-score S] < reports.jsonl > matches.jsonl`

One JSON line out per report line in, in input order; only JSON on stdout, progress on stderr.
A batch of thousands of reports is screened by a process a CPU, forked once the index is built."""
from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.matcher.screening import ScreeningEngine
from shared.schemas import EntryKind, ReportContent
from shared.watchlist_csv import Problem, WatchlistCsvError, parse, read_rows


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


CHUNK = 500  # report lines a worker screens at a time
PARALLEL_FROM = 2000  # report lines: fewer are screened in this process alone

# The engine a forked worker screens with: set before the workers start, inherited by them
# (copy-on-write: the index is built once, and a big one is frozen out of the collector's walks)
_engine: ScreeningEngine | None = None
_min_score: float | None = None


def _screen_lines(chunk: tuple[int, list[str]]) -> tuple[list[str], list[tuple[int, str]]]:
    """(output lines, (line number, problem) of each refused report) for consecutive lines."""
    first, lines = chunk
    out, problems = [], []
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            report = _report(line)
        except (ValueError, ValidationError) as exc:
            message = str(exc).splitlines()[0]
            problems.append((number, message))
            out.append(json.dumps({"report_id": None, "line": number, "error": message,
                                   "matches": [], "indicators": []}) + "\n")
            continue
        result = _engine.screen(report, min_score=_min_score)
        out.append(json.dumps({
            "report_id": report.id,
            "matches": [m.model_dump(mode="json", include={"entry_id", "entry_name", "score", "band", "evidence"})
                        for m in result.matches],
            "indicators": [i.model_dump(mode="json") for i in result.indicators],
            "categories": result.categories,
            "risk_level": result.risk_level.value,
        }, ensure_ascii=False) + "\n")
    return out, problems


@dataclass(frozen=True, slots=True)
class _Listed:
    """A watchlist row as the index reads it (NameIndex.upsert), from cells a checker checks."""
    id: str
    kind: EntryKind
    name: str
    aliases: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    license_numbers: list[str] = field(default_factory=list)
    social_handles: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def _check_watchlist(path: Path) -> list[str]:
    """Every problem of the watchlist file (watchlist_csv.parse), for a forked checker."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            parse(handle)
    except WatchlistCsvError as exc:
        return [str(problem) for problem in exc.problems]
    except (OSError, UnicodeDecodeError) as exc:
        return [str(exc)]
    return []


def _listed_rows(path: Path):
    """The rows the index is built from while the checker checks them: the fields as parse()
    gives them (a row of the wrong shape, or not valid, is left out: the checker reports it)."""
    fields = set(_Listed.__dataclass_fields__)
    with open(path, encoding="utf-8", newline="") as handle:
        for row in read_rows(handle):
            if isinstance(row, Problem):
                continue
            data = row[1]
            try:
                yield _Listed(**{k: v for k, v in data.items() if k in fields} | {"kind": EntryKind(data.get("kind"))})
            except (TypeError, ValueError):
                continue


def screen_command(watchlist: Path, min_score: float | None, stdin: TextIO, stdout: TextIO, stderr: TextIO,
                   workers: int | None = None) -> int:
    """workers: processes screening at once (default: one a CPU for a batch worth it)."""
    global _engine, _min_score
    console = Console(file=stderr, soft_wrap=True)
    parallel = (os.cpu_count() or 1) > 1 and workers != 1
    try:
        if parallel:
            # The file is checked whole (every bad line reported, nothing used if any) in a
            # forked process, while this one builds the index from the same cells
            with multiprocessing.get_context("fork").Pool(1) as checker:
                checking = checker.apply_async(_check_watchlist, (watchlist,))
                engine = ScreeningEngine(_listed_rows(watchlist))
                problems = checking.get()
        else:
            problems = _check_watchlist(watchlist)
            engine = ScreeningEngine(_listed_rows(watchlist)) if not problems else None
    except WatchlistCsvError as exc:  # the header
        problems = [str(problem) for problem in exc.problems]
    except (OSError, UnicodeDecodeError) as exc:
        problems = [str(exc)]
    if problems:
        for problem in problems:
            console.print(f"[red]{watchlist}: {problem}[/red]", highlight=False)
        return 2
    _engine, _min_score = engine, min_score
    lines = stdin.readlines()
    chunks = [(start + 1, lines[start:start + CHUNK]) for start in range(0, len(lines), CHUNK)]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(lines) >= PARALLEL_FROM else 1
    failures = 0
    # Forked before the progress bar's refresh thread starts; results come back in input order
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_screen_lines, chunks) if pool else map(_screen_lines, chunks)
        with Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True, disable=len(lines) < 1000) as progress:
            task = progress.add_task("screening", total=len(lines))
            for (_, chunk), (out, problems) in zip(chunks, results):
                for number, message in problems:
                    console.print(f"[yellow]reports line {number}: {message}[/yellow]", highlight=False)
                failures += len(problems)
                stdout.writelines(out)
                progress.advance(task, len(chunk))
    finally:
        if pool:
            pool.close()
            pool.join()
    return 1 if failures else 0
