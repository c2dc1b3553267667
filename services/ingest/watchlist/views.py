from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, StringConstraints

from services.ingest.auth import Principal, admin_only
from services.ingest.watchlist import service
from shared.db import run_db
from shared.schemas import Strict, WatchlistEntry, WatchlistEntryIn, WatchlistEntryPatch
from shared.watchlist_csv import WatchlistCsvError

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"])


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=WatchlistEntry)
def create_entry(body: WatchlistEntryIn, request: Request, admin: Principal = Depends(admin_only)) -> WatchlistEntry:
    try:
        with request.app.state.sessions.begin() as s:
            entry = service.create(s, body, admin.token_id)
    except service.EntryExists:
        raise HTTPException(status.HTTP_409_CONFLICT, f"entry {body.id} already exists") from None
    request.app.state.relay.poke()
    return entry


class EntryPage(BaseModel):
    total: int
    limit: int
    offset: int
    entries: list[WatchlistEntry]


@router.get("/entries", response_model=EntryPage, dependencies=[Depends(admin_only)])
def list_entries(request: Request, q: str | None = Query(default=None, max_length=200),
                 kind: Literal["agency", "person"] | None = None,
                 entry_status: Literal["active", "retired"] | None = Query(default=None, alias="status"),
                 limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9)) -> EntryPage:
    total, entries = service.search(request.app.state.sessions, q, kind, limit, offset, entry_status)
    return EntryPage(total=total, limit=limit, offset=offset, entries=entries)


@router.get("/entries/{entry_id}", response_model=WatchlistEntry, dependencies=[Depends(admin_only)])
def get_entry(entry_id: str, request: Request) -> WatchlistEntry:
    entry = service.get(request.app.state.sessions, entry_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    return entry


@router.patch("/entries/{entry_id}", response_model=WatchlistEntry)
def patch_entry(entry_id: str, body: WatchlistEntryPatch, request: Request,
                admin: Principal = Depends(admin_only)) -> WatchlistEntry:
    """Change fields; `{"status": "retired", "reason": "..."}` retires an entry (kept, no longer screened)."""
    entry = service.update(request.app.state.sessions, entry_id, body, admin.token_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    request.app.state.relay.poke()
    return entry


@router.delete("/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(entry_id: str, request: Request, admin: Principal = Depends(admin_only)) -> Response:
    if not service.delete(request.app.state.sessions, entry_id, admin.token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    request.app.state.relay.poke()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- CSV


class ImportSummary(BaseModel):
    rows: int
    created: int
    updated: int
    unchanged: int


class CsvProblem(BaseModel):
    line: int
    column: str | None
    message: str


class ImportRefused(BaseModel):
    detail: str
    errors: list[CsvProblem]


async def read_csv_body(request: Request) -> str:
    """The file as the body (Content-Type text/csv), or a form upload with a field named `file`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise CsvRefused([CsvProblem(line=0, column="file", message="a CSV file upload is required")])
        raw = await upload.read()
    elif content_type.startswith(("text/csv", "text/plain", "application/octet-stream")) or not content_type:
        raw = await request.body()
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the CSV as text/csv or multipart/form-data")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvRefused([CsvProblem(line=0, column="file", message=f"not UTF-8 (byte {exc.start})")]) from None


class CsvRefused(Exception):
    def __init__(self, errors: list[CsvProblem]) -> None:
        self.errors = errors


def import_refused(errors: list[CsvProblem]) -> JSONResponse:
    body = ImportRefused(detail=f"{len(errors)} problem(s) in the CSV; nothing was imported", errors=errors)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


@router.post("/import", response_model=ImportSummary,
             responses={422: {"model": ImportRefused, "description": "the CSV has errors; nothing was written"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def import_entries(request: Request, admin: Principal = Depends(admin_only)):
    """Import the `waspada screen` watchlist CSV: validated whole first, then all or nothing."""
    try:
        text = await read_csv_body(request)
        summary = await run_db(service.import_csv, request.app.state.sessions, text, admin.token_id)
    except CsvRefused as exc:
        return import_refused(exc.errors)
    except WatchlistCsvError as exc:
        return import_refused([CsvProblem(line=p.line, column=p.column, message=p.message) for p in exc.problems])
    request.app.state.relay.poke()
    return ImportSummary(**summary)


@router.get("/export", response_class=StreamingResponse, dependencies=[Depends(admin_only)],
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_entries(request: Request) -> StreamingResponse:
    """Every entry, active and retired, in the import format (a round trip is exact)."""
    return StreamingResponse(service.export_csv(request.app.state.sessions), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="watchlist.csv"'})


# ---------------------------------------------------------------- disputes


class DisputeIn(Strict):
    claimant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    claim: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class DisputeResolution(Strict):
    outcome: Literal["upheld", "rejected"]
    resolution: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Dispute(BaseModel):
    id: str
    entry_id: str
    claimant: str
    claim: str
    status: Literal["open", "upheld", "rejected"]
    resolution: str | None
    opened_by: str
    opened_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None


@router.post("/entries/{entry_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=Dispute)
def open_dispute(entry_id: str, body: DisputeIn, request: Request, admin: Principal = Depends(admin_only)) -> dict:
    """Record a listed party's claim (as received by the task force)."""
    dispute = service.open_dispute(request.app.state.sessions, entry_id, body.claimant, body.claim, admin.token_id)
    if dispute is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    return dispute


@router.get("/disputes", response_model=list[Dispute], dependencies=[Depends(admin_only)])
def list_disputes(request: Request, entry_id: str | None = Query(default=None, max_length=80),
                  dispute_status: Literal["open", "upheld", "rejected"] | None = Query(default=None, alias="status")):
    return service.list_disputes(request.app.state.sessions, entry_id, dispute_status)


@router.post("/disputes/{dispute_id}/resolve", response_model=Dispute)
def resolve_dispute(dispute_id: str, body: DisputeResolution, request: Request,
                    admin: Principal = Depends(admin_only)) -> dict:
    """Upheld retires the entry; rejected leaves it listed."""
    try:
        dispute = service.resolve_dispute(request.app.state.sessions, dispute_id, body.outcome, body.resolution,
                                          admin.token_id)
    except service.DisputeClosed:
        raise HTTPException(status.HTTP_409_CONFLICT, "dispute already resolved") from None
    if dispute is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dispute")
    request.app.state.relay.poke()
    return dispute
