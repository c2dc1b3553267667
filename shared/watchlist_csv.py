"""The watchlist CSV format: `waspada screen --watchlist` and the admin import/export.

UTF-8, a header row; columns id, kind (agency|person), name, aliases, phones, license_numbers,
notes are required; social_handles, urls, source, reason, status (active|retired), reviewer and
review_by (YYYY-MM-DD) are optional; unknown columns are ignored.
List cells hold values separated by ";". The file is validated whole: every bad line is
reported (line number as a spreadsheet shows it, the column, the reason) before anything is used.

Export neutralises cells a spreadsheet would run as a formula (starting with =, @, a tab or CR,
or + or - before a non-digit) with a leading apostrophe, and import removes exactly that
apostrophe again, so a file round-trips unchanged and +6281... stays a phone number."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from shared.schemas import WatchlistEntry, WatchlistEntryIn

REQUIRED = ("id", "kind", "name", "aliases", "phones", "license_numbers", "notes")
OPTIONAL = ("social_handles", "urls", "source", "reason", "status", "reviewer", "review_by")
COLUMNS = REQUIRED + OPTIONAL
LIST_COLUMNS = {"aliases", "phones", "license_numbers", "social_handles", "urls"}
SEPARATOR = ";"


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f", column {self.column}" if self.column else "") + f": {self.message}"


class WatchlistCsvError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:20]) + (" ..." if len(problems) > 20 else ""))


def _formula_like(value: str) -> bool:
    if not value:
        return False
    first = value[0]
    if first in "=@\t\r":
        return True
    return first in "+-" and (len(value) == 1 or not value[1].isdigit())


def neutralise(value: str) -> str:
    if _formula_like(value) or (value.startswith("'") and _formula_like(value[1:])):
        return "'" + value
    return value


def restore(value: str) -> str:
    if value.startswith("'") and (_formula_like(value[1:]) or (value[1:2] == "'" and _formula_like(value[2:]))):
        return value[1:]
    return value


def read_rows(stream: Iterable[str] | io.TextIOBase) -> Iterator[tuple[int, dict] | Problem]:
    """Each row's cells as the fields of an entry (line number, fields), not yet checked, or the
    Problem of a row whose shape is wrong. Raises WatchlistCsvError for a header lacking columns."""
    reader = csv.reader(stream)
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise WatchlistCsvError([Problem(1, None, f"header lacks column(s): {', '.join(missing)}")])
    # each known column's place (the first of a repeated header wins; unknown columns are ignored)
    places = [(column, header.index(column), column in LIST_COLUMNS) for column in COLUMNS if column in header]
    width = len(header)
    for cells in reader:
        line = reader.line_num
        if len(cells) > width:  # more cells than header columns
            yield Problem(line, None, f"{len(cells)} cells for {width} columns")
            continue
        if not "".join(cells).strip():
            continue  # blank line
        data: dict = {}
        for column, at, is_list in places:
            cell = cells[at].strip() if at < len(cells) else ""
            if cell.startswith("'"):
                cell = restore(cell)
            if is_list:
                if not cell:
                    data[column] = []
                elif SEPARATOR not in cell:  # most list cells hold one value
                    data[column] = [cell]
                else:
                    parts = [part.strip() for part in cell.split(SEPARATOR)]
                    data[column] = [restore(v) if v.startswith("'") else v for v in parts if v]
            elif cell or column in ("id", "kind", "name"):
                data[column] = cell
        yield line, data


def parse(stream: Iterable[str] | io.TextIOBase) -> list[WatchlistEntryIn]:
    """Every row as an entry, or WatchlistCsvError listing every problem."""
    entries, problems, seen = [], [], {}
    for row in read_rows(stream):
        if isinstance(row, Problem):
            problems.append(row)
            continue
        line, data = row
        try:
            entry = WatchlistEntryIn.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(Problem(line, str(err["loc"][0]) if err["loc"] else None, err["msg"]))
            continue
        if entry.id in seen:
            problems.append(Problem(line, "id", f"duplicate id {entry.id} (first on line {seen[entry.id]})"))
            continue
        seen[entry.id] = line
        entries.append(entry)
    if problems:
        raise WatchlistCsvError(problems)
    return entries


def write(entries: Iterable[WatchlistEntry | WatchlistEntryIn], out: io.TextIOBase) -> None:
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    write_rows(entries, out)


def write_rows(entries: Iterable[WatchlistEntry | WatchlistEntryIn], out: io.TextIOBase) -> None:
    """Rows without the header (for streaming an export in chunks)."""
    writer = csv.writer(out, lineterminator="\n")
    for entry in entries:
        row = []
        for column in COLUMNS:
            value = getattr(entry, column)
            if column in LIST_COLUMNS:
                row.append(SEPARATOR.join(neutralise(v) for v in value))
            elif value is None:
                row.append("")
            else:
                row.append(neutralise(value.value if hasattr(value, "value") else str(value)))
        writer.writerow(row)
