"""Admin pages: watchlist (search, create, edit, retire, CSV import/export), agencies, routing
rules, feeds, failed alerts and the audit log. Each page calls the same service functions as the admin
API, so the rules (validation, audit, outbox) are the same; the actor is the signed-in token."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from services.ingest.agencies import service as agencies
from services.ingest.alerts import service as alerts_service
from services.ingest.audit import service as audit
from services.ingest.feeds import service as feeds
from services.ingest.auth import Role
from services.ingest.models import WatchlistDispute
from services.ingest.reviews import service as reviews
from services.ingest.routes import service as routes
from services.ingest.watchlist import service as watchlist
from services.ingest.web import session
from services.ingest.web.views import render, signed_in_as
from shared.alert_refs import case_ref
from shared.db import run_db
from shared.models import WatchlistEntryRow
from shared.schemas import AgencyIn, AlertChannel, EntryKind, EntryStatus, RiskLevel, RouteIn, WatchlistEntryIn, \
    WatchlistEntryPatch
from shared.watchlist_csv import WatchlistCsvError

router = APIRouter(prefix="/admin", include_in_schema=False)
admin_page = signed_in_as(Role.admin)
ENTRY_LISTS = ("aliases", "phones", "license_numbers", "social_handles", "urls")
ENTRY_TEXTS = ("name", "source", "reason", "reviewer", "review_by", "notes")


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _errors(exc: ValidationError) -> dict[str, str]:
    return {str(err["loc"][0]) if err["loc"] else "form": err["msg"] for err in exc.errors()}


async def _form(request: Request, signed) -> dict:
    form = await request.form()
    session.check_csrf(signed[1], form.get("csrf"))
    return form


@router.get("")
def dashboard(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    listed = select(func.count()).select_from(WatchlistEntryRow).where(WatchlistEntryRow.deleted.is_(False))
    with request.app.state.sessions() as s:
        total = s.scalar(listed) or 0
        retired = s.scalar(listed.where(WatchlistEntryRow.data["status"].as_string() == "retired")) or 0
        open_disputes = s.scalar(select(func.count()).select_from(WatchlistDispute)
                                 .where(WatchlistDispute.status == "open"))
    counts = {"active": total - retired, "retired": retired}
    failed = alerts_service.list_alerts(request.app.state.sessions, None, "failed", 500, 0)
    pending_reviews = reviews.list_reviews(request.app.state.sessions, limit=1)[0]
    return render(request, "admin/dashboard.html", {"counts": counts, "failed": len(failed), "reviews": pending_reviews,
                                                    "open_disputes": open_disputes}, signed=signed)


# ------------------------------------------------------------------ watchlist


@router.get("/watchlist")
def watchlist_page(request: Request, q: str | None = Query(default=None, max_length=200),
                   entry_status: str | None = Query(default=None, alias="status", pattern="^(active|retired)$"),
                   offset: int = Query(default=0, ge=0, le=10**9), signed=Depends(admin_page)) -> HTMLResponse:
    total, entries = watchlist.search(request.app.state.sessions, q, None, 50, offset, entry_status)
    return render(request, "admin/watchlist.html", {"entries": entries, "total": total, "q": q or "",
                                                    "status": entry_status or "", "offset": offset}, signed=signed)


def _entry_body(form) -> dict:
    body: dict = {"kind": form.get("kind") or None, "status": form.get("status") or "active"}
    for field in ENTRY_TEXTS:
        value = str(form.get(field, "")).strip()
        if value or field == "name":
            body[field] = value
    for field in ENTRY_LISTS:
        body[field] = [line.strip() for line in str(form.get(field, "")).splitlines() if line.strip()]
    return body


def _entry_form(request, signed, body: dict, errors: dict, entry_id: str | None, code: int = 200,
                **extra) -> HTMLResponse:
    return render(request, "admin/entry_form.html", {
        "body": body, "errors": errors, "entry_id": entry_id, "kinds": [k.value for k in EntryKind],
        "statuses": [s.value for s in EntryStatus], "lists": ENTRY_LISTS, **extra}, status_code=code, signed=signed)


@router.get("/watchlist/new")
def new_entry_page(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    return _entry_form(request, signed, {"kind": "agency", "status": "active"}, {}, None)


@router.post("/watchlist/new")
async def create_entry(request: Request, signed=Depends(admin_page)) -> Response:
    form = await _form(request, signed)
    body = _entry_body(form)
    if str(form.get("id", "")).strip():
        body["id"] = str(form["id"]).strip()
    try:
        entry = WatchlistEntryIn.model_validate(body)
        with request.app.state.sessions.begin() as s:
            created = watchlist.create(s, entry, signed[0].token_id)
    except ValidationError as exc:
        return _entry_form(request, signed, body, _errors(exc), None, 422)
    except watchlist.EntryExists:
        return _entry_form(request, signed, body, {"id": "exists"}, None, 409)
    request.app.state.relay.poke()
    return _redirect(f"/admin/watchlist/{created.id}")


@router.get("/watchlist/{entry_id}")
def entry_page(entry_id: str, request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    entry = watchlist.get(request.app.state.sessions, entry_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return _entry_form(request, signed, entry.model_dump(mode="json"), {}, entry_id, version=entry.version,
                       disputes=watchlist.list_disputes(request.app.state.sessions, entry_id))


@router.post("/watchlist/{entry_id}")
async def save_entry(entry_id: str, request: Request, signed=Depends(admin_page)) -> Response:
    form = await _form(request, signed)
    body = _entry_body(form)
    try:
        patch = WatchlistEntryPatch.model_validate({**body, "review_by": body.get("review_by")})
        entry = watchlist.update(request.app.state.sessions, entry_id, patch, signed[0].token_id)
    except ValidationError as exc:
        return _entry_form(request, signed, body, _errors(exc), entry_id, 422)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    request.app.state.relay.poke()
    return _redirect(f"/admin/watchlist/{entry_id}?saved=1")


@router.get("/watchlist-import")
def import_page(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    return render(request, "admin/import.html", {"problems": None, "summary": None}, signed=signed)


@router.post("/watchlist-import")
async def import_csv(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    form = await _form(request, signed)
    upload = form.get("file")
    problems, summary = None, None
    if upload is None or isinstance(upload, str) or not upload.filename:
        problems = [{"line": 0, "column": "file", "message": "choose a CSV file"}]
    else:
        try:
            text = (await upload.read()).decode("utf-8-sig")
            summary = await run_db(watchlist.import_csv, request.app.state.sessions, text, signed[0].token_id)
            request.app.state.relay.poke()
        except UnicodeDecodeError as exc:
            problems = [{"line": 0, "column": "file", "message": f"not UTF-8 (byte {exc.start})"}]
        except WatchlistCsvError as exc:
            problems = [{"line": p.line, "column": p.column, "message": p.message} for p in exc.problems]
    return render(request, "admin/import.html", {"problems": problems, "summary": summary},
                  status_code=422 if problems else 200, signed=signed)


@router.get("/watchlist-export")
def export_csv(request: Request, signed=Depends(admin_page)) -> StreamingResponse:
    return StreamingResponse(watchlist.export_csv(request.app.state.sessions), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="watchlist.csv"'})


# ------------------------------------------------------------------ agencies and routes


@router.get("/agencies")
def agencies_page(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    return _agencies(request, signed, {}, {})


def _agencies(request, signed, body: dict, errors: dict, code: int = 200) -> HTMLResponse:
    sessions = request.app.state.sessions
    listed = agencies.list_all(sessions)
    broken = {a.code: agencies.broken_contacts(sessions, a.code) for a in listed}
    return render(request, "admin/agencies.html", {"agencies": listed, "broken": broken, "body": body,
                                                   "errors": errors}, status_code=code, signed=signed)


def _agency_body(form) -> dict:
    lines = lambda name: [v.strip() for v in str(form.get(name, "")).splitlines() if v.strip()]  # noqa: E731
    return {"code": str(form.get("code", "")).strip(), "name": str(form.get("name", "")).strip(),
            "emails": lines("emails"), "phones": lines("phones"),
            "receives": [v.strip() for v in str(form.get("receives", "")).split(",") if v.strip()]}


@router.post("/agencies")
async def save_agency(request: Request, signed=Depends(admin_page)) -> Response:
    """Create, or replace an existing agency's details (same form)."""
    form = await _form(request, signed)
    body = _agency_body(form)
    try:
        agency = AgencyIn.model_validate(body)
        if agencies.get(request.app.state.sessions, agency.code) is None:
            with request.app.state.sessions.begin() as s:
                agencies.create(s, agency, signed[0].token_id)
        else:
            agencies.replace(request.app.state.sessions, agency.code, agency, signed[0].token_id)
    except ValidationError as exc:
        return _agencies(request, signed, body, _errors(exc), 422)
    return _redirect("/admin/agencies")


@router.get("/routes")
def routes_page(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    return _routes(request, signed, {}, {})


def _routes(request, signed, body: dict, errors: dict, code: int = 200) -> HTMLResponse:
    sessions = request.app.state.sessions
    return render(request, "admin/routes.html", {
        "routes": routes.list_all(sessions), "agencies": agencies.list_all(sessions), "body": body, "errors": errors,
        "risks": [r.value for r in RiskLevel], "channels": [c.value for c in AlertChannel]}, status_code=code,
        signed=signed)


@router.post("/routes")
async def create_route(request: Request, signed=Depends(admin_page)) -> Response:
    form = await _form(request, signed)
    body = {"agency_code": form.get("agency_code", ""),
            "categories": [v.strip() for v in str(form.get("categories", "")).split(",") if v.strip()],
            "min_risk": form.get("min_risk") or "low", "kecamatan": str(form.get("kecamatan", "")).strip() or None,
            "channels": form.getlist("channels"), "feed_min_risk": form.get("feed_min_risk") or None}
    try:
        route = RouteIn.model_validate(body)
        with request.app.state.sessions.begin() as s:
            routes.create(s, route, signed[0].token_id)
    except ValidationError as exc:
        return _routes(request, signed, body, _errors(exc), 422)
    except routes.UnknownAgency:
        return _routes(request, signed, body, {"agency_code": "no such agency"}, 422)
    return _redirect("/admin/routes")


@router.post("/routes/{route_id}/delete")
async def delete_route(route_id: str, request: Request, signed=Depends(admin_page)) -> Response:
    await _form(request, signed)
    routes.delete(request.app.state.sessions, route_id, signed[0].token_id)
    return _redirect("/admin/routes")


# ------------------------------------------------------------------ review queue


@router.get("/reviews")
def reviews_page(request: Request, offset: int = Query(default=0, ge=0, le=10**9), signed=Depends(admin_page)) -> HTMLResponse:
    total, pending = reviews.list_reviews(request.app.state.sessions, status="pending", limit=50, offset=offset)
    return render(request, "admin/reviews.html", {"reviews": pending, "total": total, "offset": offset,
                                                  "case_ref": case_ref}, signed=signed)


@router.post("/reviews/{report_id}/{entry_id}")
async def review_decision(report_id: str, entry_id: str, request: Request, signed=Depends(admin_page)) -> Response:
    form = await _form(request, signed)
    decision = form.get("decision")
    reason = str(form.get("reason", "")).strip()[:1000] or None
    if decision not in ("confirm", "reject"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "decision: confirm or reject")
    try:
        reviews.decide(request.app.state.sessions, report_id=report_id, entry_id=entry_id,
                       confirm=decision == "confirm", reason=reason or (None if decision == "confirm" else
                                                                        "rejected in review"),
                       actor=signed[0].token_id)
    except reviews.NoSuchReview:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such possible match") from None
    except reviews.AlreadyDecided:
        pass  # decided meanwhile (another reviewer): the queue shows what is left
    if decision == "confirm":
        request.app.state.relay.poke()
    return _redirect("/admin/reviews")


# ------------------------------------------------------------------ feeds


@router.get("/feeds")
def feeds_page(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    return render(request, "admin/feeds.html", {"feeds": feeds.list_feeds(request.app.state.sessions)}, signed=signed)


# ------------------------------------------------------------------ failed alerts and audit


@router.get("/failed")
def failed_alerts(request: Request, signed=Depends(admin_page)) -> HTMLResponse:
    failed = alerts_service.list_alerts(request.app.state.sessions, None, "failed", 200, 0)
    return render(request, "admin/failed.html", {"alerts": failed}, signed=signed)


@router.get("/audit")
def audit_page(request: Request, action: str | None = Query(default=None, max_length=80),
               actor: str | None = Query(default=None, max_length=80),
               before_seq: int | None = Query(default=None, ge=1, le=2**62),
               signed=Depends(admin_page)) -> HTMLResponse:
    records = audit.search(request.app.state.sessions, action=action or None, actor=actor or None,
                           before_seq=before_seq, limit=100)
    return render(request, "admin/audit.html", {"records": records, "action": action or "", "actor": actor or "",
                                                "next": records[-1]["seq"] if len(records) == 100 else None},
                  signed=signed)
