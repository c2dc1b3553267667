from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from services.ingest.auth import admin_only
from services.ingest.watchlist import service
from shared.schemas import WatchlistEntry, WatchlistEntryIn, WatchlistEntryPatch

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"], dependencies=[Depends(admin_only)])


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=WatchlistEntry)
def create_entry(body: WatchlistEntryIn, request: Request) -> WatchlistEntry:
    try:
        with request.app.state.sessions.begin() as s:
            entry = service.create(s, body)
    except service.EntryExists:
        raise HTTPException(status.HTTP_409_CONFLICT, f"entry {body.id} already exists") from None
    request.app.state.relay.poke()
    return entry


@router.get("/entries")
def list_entries(request: Request, q: str | None = Query(default=None, max_length=200),
                 kind: str | None = Query(default=None, pattern="^(agency|person)$"),
                 limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0)) -> dict:
    total, entries = service.search(request.app.state.sessions, q, kind, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "entries": [e.model_dump(mode="json") for e in entries]}


@router.get("/entries/{entry_id}", response_model=WatchlistEntry)
def get_entry(entry_id: str, request: Request) -> WatchlistEntry:
    entry = service.get(request.app.state.sessions, entry_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    return entry


@router.patch("/entries/{entry_id}", response_model=WatchlistEntry)
def patch_entry(entry_id: str, body: WatchlistEntryPatch, request: Request) -> WatchlistEntry:
    entry = service.update(request.app.state.sessions, entry_id, body)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    request.app.state.relay.poke()
    return entry


@router.delete("/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(entry_id: str, request: Request) -> Response:
    if not service.delete(request.app.state.sessions, entry_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    request.app.state.relay.poke()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
