"""`waspada feed import FILE --source NAME [--format jobposting|csv]`: a file of job ads into a
running system, through POST /v1/feeds/{source}/ads, in chunks, with a progress bar.

A chunk whose answer never came (a timeout, a restart) is simply posted again: the ads it
wrote are then duplicates of themselves, counted but never reported or alerted twice."""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from services.ingest.feeds.formats import CSV_NEEDS_ONE_OF, from_csv_row

CHUNK_ADS = 1000
CHUNK_BYTES = 4 * 1024 * 1024  # well under the API's 10 MiB
IN_FLIGHT = 2  # one chunk is stored while the next is read, sent and parsed


class FeedFileError(Exception):
    """The file cannot be read as a feed at all (not a line of it was sent)."""


@dataclass
class Chunk:
    body: bytes
    lines: list[int]  # the file's line number of each line of the body
    size: int  # bytes of the file it covers


@dataclass
class ImportResult:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def jsonl_chunks(path: Path) -> Iterator[Chunk]:
    """JSON Lines as they are: the API reads JobPosting objects and FeedAdIn lines alike, and
    names a bad line itself."""
    lines, parts, size, read = [], [], 0, 0
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            read += len(raw)
            if not raw.strip():
                continue
            lines.append(number)
            parts.append(raw.rstrip(b"\r\n"))
            size += len(raw)
            if len(lines) >= CHUNK_ADS or size >= CHUNK_BYTES:
                yield Chunk(b"\n".join(parts), lines, read)
                lines, parts, size, read = [], [], 0, 0
    if lines:
        yield Chunk(b"\n".join(parts), lines, read)


def csv_chunks(path: Path) -> Iterator[Chunk]:
    """A scraper's CSV, each row an ad line. Rows that span lines (quoted newlines in a
    description) are numbered by the line they start on."""
    read = [0]  # bytes of the file consumed: the progress bar's measure

    def counted(file) -> Iterator[str]:
        for number, raw in enumerate(file, start=1):
            read[0] += len(raw)
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise FeedFileError(f"{path}: line {number} is not UTF-8 (byte {exc.start})") from None

    with path.open("rb") as file:
        reader = csv.DictReader(counted(file))
        header = [h.strip() for h in reader.fieldnames or []]
        if not set(header) & set(CSV_NEEDS_ONE_OF):
            raise FeedFileError(f"{path}: the CSV header has none of the columns {', '.join(CSV_NEEDS_ONE_OF)}"
                                f" (it has: {', '.join(header) or 'nothing'})")
        reader.fieldnames = header
        lines, parts, size, start, sent = [], [], 0, reader.line_num + 1, 0
        for row in reader:
            ad = json.dumps(from_csv_row(row), ensure_ascii=False).encode()
            lines.append(start)
            parts.append(ad)
            size += len(ad)
            start = reader.line_num + 1
            if len(lines) >= CHUNK_ADS or size >= CHUNK_BYTES:
                yield Chunk(b"\n".join(parts), lines, read[0] - sent)
                sent = read[0]
                lines, parts, size = [], [], 0
        if lines:
            yield Chunk(b"\n".join(parts), lines, read[0] - sent)


def post_chunk(client: httpx.Client, source: str, chunk: Chunk, attempts: int = 8) -> dict:
    """Post one chunk; again after a lost answer, a 429 (after its Retry-After) or a 5xx."""
    delay = 0.5
    for attempt in range(attempts):
        try:
            response = client.post(f"/v1/feeds/{source}/ads", content=chunk.body,
                                   headers={"Content-Type": "application/x-ndjson"})
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
        else:
            if response.status_code == 202:
                return response.json()
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code < 500:
                raise FeedFileError(f"the API refused the feed: {response.status_code} {response.text[:500]}")
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise FeedFileError(f"the API kept failing; the file was imported up to a chunk before line {chunk.lines[0]}")


def import_file(path: Path, *, source: str, fmt: str, api_url: str, token: str,
                console: Console | None = None, progress: bool = True) -> ImportResult:
    console = console or Console(stderr=True)
    chunks = csv_chunks(path) if fmt == "csv" else jsonl_chunks(path)
    result = ImportResult()
    total = path.stat().st_size
    with httpx.Client(base_url=api_url.rstrip("/"), timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as client, \
            Progress(TextColumn(f"[bold]{source}[/bold]"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                     TextColumn("{task.fields[counts]}"), console=console, disable=not progress,
                     transient=False) as bar, \
            ThreadPoolExecutor(IN_FLIGHT) as pool:
        task = bar.add_task("import", total=total, counts="")
        pending = []

        def settle(future, chunk: Chunk) -> None:
            summary = future.result()
            result.lines += summary["lines"]
            result.accepted += summary["accepted"]
            result.duplicates += summary["duplicates"]
            result.rejected += [(chunk.lines[r["line"] - 1], r["reason"]) for r in summary["rejected"]]
            bar.update(task, advance=chunk.size, counts=f"new {result.accepted}  seen {result.duplicates}  "
                                                        f"rejected {len(result.rejected)}")

        for chunk in chunks:
            pending.append((pool.submit(post_chunk, client, source, chunk), chunk))
            if len(pending) >= IN_FLIGHT:
                settle(*pending.pop(0))
        for future, chunk in pending:
            settle(future, chunk)
        bar.update(task, completed=total)
    return result


def guess_format(path: Path) -> str:
    return "csv" if path.suffix.lower() in (".csv", ".tsv") else "jobposting"


def report(result: ImportResult, source: str, out: io.TextIOBase, err: Console) -> None:
    for line, reason in result.rejected[:100]:
        err.print(f"[red]line {line}[/red]: {reason}", markup=True, highlight=False)
    if len(result.rejected) > 100:
        err.print(f"... and {len(result.rejected) - 100} more rejected lines")
    out.write(f"feed {source}: {result.lines} lines, {result.accepted} new ads, {result.duplicates} seen before, "
              f"{len(result.rejected)} rejected\n")
