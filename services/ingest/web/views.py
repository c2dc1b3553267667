"""Pages for operators, agency officers and admins. Thin: each page calls the same service
functions as the JSON API, so the rules (roles, confidentiality, validation) are the same."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select

from services.ingest.alerts import service as alerts_service
from services.ingest.auth import Principal, Role
from services.ingest.models import ReportAlertRow
from services.ingest.reports import service as reports
from services.ingest.web import session
from services.ingest.web.i18n import translator
from services.ingest.web.wilayah import kecamatan_desa
from shared.models import ReportRow
from shared.schemas import Channel, ReportIn

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

LIST_FIELDS = ("agency_names", "recruiter_names", "phones", "emails", "urls", "social_handles", "license_numbers")


class SignInRequired(Exception):
    pass


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("waspada_lang") or "id"
    return lang if lang in ("id", "en") else "id"


def render(request: Request, name: str, context: dict, status_code: int = 200,
           signed: tuple[Principal, object] | None = None) -> HTMLResponse:
    lang = language(request)
    principal, web_session = signed if signed else (None, None)
    response = templates.TemplateResponse(request, name, {
        "t": translator(lang), "lang": lang, "principal": principal,
        "csrf": getattr(web_session, "csrf", ""), **context}, status_code=status_code)
    if request.query_params.get("lang") in ("id", "en"):
        response.set_cookie("waspada_lang", lang, samesite="strict", httponly=True, max_age=365 * 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


def signed_in(request: Request):
    found = session.current(request)
    if found is None:
        raise SignInRequired()
    return found


def signed_in_as(*roles: Role):
    def check(request: Request, signed=Depends(signed_in)):
        if signed[0].role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")
        return signed

    return check


# ------------------------------------------------------------------ sign-in


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    response = render(request, "login.html", {"next": _safe_next(next), "login_csrf": nonce, "error": None})
    response.set_cookie(session.LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    return response


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form()],
          next: Annotated[str, Form()] = "/") -> Response:
    if not secrets.compare_digest(csrf, request.cookies.get(session.LOGIN_COOKIE, "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong: reload the page")
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    if session.start(request, response, token) is None:
        nonce = secrets.token_urlsafe(16)
        page = render(request, "login.html", {"next": _safe_next(next), "login_csrf": nonce,
                                              "error": translator(language(request))("bad_token")}, 401)
        page.set_cookie(session.LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
        return page
    response.delete_cookie(session.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()], signed=Depends(signed_in)) -> Response:
    session.check_csrf(signed[1], csrf)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    session.end(request, response)
    return response


def _safe_next(target: str) -> str:
    """Only local paths: a sign-in link must not send anyone elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/")
def home(request: Request, signed=Depends(signed_in)) -> Response:
    principal = signed[0]
    if principal.role == Role.agency:
        return RedirectResponse("/alerts", status_code=status.HTTP_303_SEE_OTHER)
    if principal.role == Role.admin:
        return RedirectResponse("/admin", status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/reports/new", status_code=status.HTTP_303_SEE_OTHER)


# ------------------------------------------------------------------ operator


@router.get("/reports/new")
def report_form(request: Request, signed=Depends(signed_in_as(Role.operator, Role.admin))) -> HTMLResponse:
    return render(request, "report_form.html", _form_context({}, {}), signed=signed)


@router.post("/reports/new")
async def submit_report(request: Request, signed=Depends(signed_in_as(Role.operator, Role.admin))) -> Response:
    form = await request.form()
    session.check_csrf(signed[1], form.get("csrf"))
    body = _report_body(form)
    try:
        report = ReportIn.model_validate(body)
    except ValidationError as exc:
        errors = {".".join(str(p) for p in err["loc"][:1]) if err["loc"][0] in LIST_FIELDS
                  else ".".join(str(p) for p in err["loc"]): err["msg"] for err in exc.errors()}
        t = translator(language(request))
        return render(request, "report_form.html", {**_form_context(body, errors), "alert": t("fix_errors")},
                      status_code=422, signed=signed)
    report_id, created = reports.submit(request.app.state.sessions, report, signed[0].token_id,
                                        form.get("idempotency_key") or None)
    if created:
        request.app.state.relay.poke()
    return RedirectResponse(f"/reports/{report_id}", status_code=status.HTTP_303_SEE_OTHER)


def _report_body(form) -> dict:
    body: dict = {"channel": form.get("channel") or None}
    for field in LIST_FIELDS:
        body[field] = [v.strip() for v in form.getlist(field) if str(v).strip()]
    body["ad_text"] = form.get("ad_text", "")
    if form.get("destination_country", "").strip():
        body["destination_country"] = form["destination_country"].strip()
    kecamatan, desa = form.get("kecamatan", "").strip(), form.get("desa", "").strip()
    if kecamatan or desa:
        body["location"] = {"kecamatan": kecamatan or None, "desa": desa or None}
    count = form.get("victim_count", "").strip()
    body["victims"] = {"count": count or 0, "minors": form.get("minors") == "on"}
    name, phone = form.get("reporter_name", "").strip(), form.get("reporter_phone", "").strip()
    if name or phone:
        body["reporter"] = {"name": name or None, "phone": phone or None}
    return body


def _form_context(body: dict, errors: dict) -> dict:
    return {"body": body, "errors": errors, "channels": [c.value for c in Channel],
            "wilayah": kecamatan_desa(), "list_fields": LIST_FIELDS, "idempotency_key": secrets.token_urlsafe(12)}


def _report_for(request: Request, report_id: str, principal: Principal) -> ReportRow:
    report = reports.get_report(request.app.state.sessions, report_id)
    if report is None or (principal.role == Role.operator and report.submitted_by != principal.token_id) \
            or principal.role == Role.agency:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return report


@router.get("/reports/{report_id}")
def report_page(report_id: str, request: Request,
                signed=Depends(signed_in_as(Role.operator, Role.admin))) -> HTMLResponse:
    report = _report_for(request, report_id, signed[0])
    view = reports.timeline(request.app.state.sessions, report)
    return render(request, "report.html", {"view": view}, signed=signed)


@router.get("/reports/{report_id}/timeline")
def report_timeline(report_id: str, request: Request,
                    signed=Depends(signed_in_as(Role.operator, Role.admin))) -> HTMLResponse:
    """The live part of the report page, fetched every few seconds by static/app.js."""
    report = _report_for(request, report_id, signed[0])
    view = reports.timeline(request.app.state.sessions, report)
    return render(request, "_timeline.html", {"view": view}, signed=signed)


# ------------------------------------------------------------------ agency officer


@router.get("/alerts")
def agency_alerts(request: Request, signed=Depends(signed_in_as(Role.agency, Role.admin))) -> HTMLResponse:
    principal = signed[0]
    with request.app.state.sessions() as s:
        query = select(ReportAlertRow).order_by(ReportAlertRow.updated_at.desc()).limit(200)
        if principal.role == Role.agency:
            query = query.where(ReportAlertRow.agency_code == principal.agency_code)
        alerts = s.scalars(query).all()
    return render(request, "alerts.html", {"alerts": alerts}, signed=signed)


@router.get("/alerts/{alert_id}")
def alert_page(alert_id: str, request: Request, signed=Depends(signed_in_as(Role.agency, Role.admin))) -> HTMLResponse:
    alert, view = _alert_view(request, alert_id, signed[0])
    return render(request, "alert.html", {"alert": alert, "view": view}, signed=signed)


@router.post("/alerts/{alert_id}/ack")
async def acknowledge_alert(alert_id: str, request: Request,
                            signed=Depends(signed_in_as(Role.agency, Role.admin))) -> Response:
    form = await request.form()
    session.check_csrf(signed[1], form.get("csrf"))
    alert, _ = _alert_view(request, alert_id, signed[0])
    alerts_service.acknowledge(request.app.state.sessions, alert, signed[0].token_id)
    request.app.state.relay.poke()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=status.HTTP_303_SEE_OTHER)


def _alert_view(request: Request, alert_id: str, principal: Principal):
    sessions = request.app.state.sessions
    with sessions() as s:
        alert = s.get(ReportAlertRow, alert_id)
    if alert is None or (principal.role == Role.agency and alert.agency_code != principal.agency_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    report = reports.get_report(sessions, alert.report_id)
    view = reports.timeline(sessions, report, alert.agency_code)
    return alert, view


# ------------------------------------------------------------------ wiring


def install(app) -> None:
    from fastapi.exceptions import HTTPException as FastAPIHTTPException
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.staticfiles import StaticFiles
    from urllib.parse import quote

    from services.ingest.web.admin import router as admin_router
    from services.ingest.web.tips import router as tips_router

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(tips_router)

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, _exc: SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)

    @app.exception_handler(FastAPIHTTPException)
    async def html_errors(request: Request, exc: FastAPIHTTPException):
        # The JSON API keeps FastAPI's JSON errors; pages get a page.
        if request.url.path.startswith(("/v1/", "/healthz", "/docs", "/openapi")) or \
                "text/html" not in request.headers.get("accept", ""):
            return await http_exception_handler(request, exc)
        t = translator(language(request))
        message = {403: t("forbidden"), 404: t("not_found")}.get(exc.status_code, str(exc.detail))
        signed = session.current(request)
        return render(request, "error.html", {"title": str(exc.status_code), "message": message},
                      status_code=exc.status_code, signed=signed)
