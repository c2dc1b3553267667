"""The operators' tip queue: tips received by SMS or WhatsApp, each turned into a report (a
small form prefilled from the tip's text) or dismissed. Calls the same service as
/v1/tips, so the rules (masked sender, one decision, audit) are the same."""
from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.ingest.auth import Role
from services.ingest.tips import service as tips
from services.ingest.web import session
from services.ingest.web.i18n import translator
from services.ingest.web.views import language, render, signed_in_as
from services.ingest.web.wilayah import kecamatan_desa
from shared.identifiers import handles_in_text, phones_in_text

router = APIRouter(prefix="/tips", include_in_schema=False)
operator_page = signed_in_as(Role.operator, Role.admin)
LISTS = ("agency_names", "recruiter_names", "phones", "urls", "social_handles")
_URL = re.compile(r"https?://\S+", re.I)  # links written out in full (a bare domain is too often not one)


def _prefill(tip: tips.Tip) -> dict:
    """The form as the tip's text suggests it, with the finders screening uses: numbers as
    written (08..., +62 8..., wa.me links), @handles and social links, full links."""
    text = tip.body or ""
    urls = [u.rstrip(".,)") for u in _URL.findall(text)]
    return {"phones": [raw.strip() for raw, _ in phones_in_text(text)],
            "social_handles": list(dict.fromkeys(key for _, key in handles_in_text(text))),
            "urls": list(dict.fromkeys(urls)), "ad_text": text}


def _page(request: Request, signed, tip: tips.Tip, body: dict, errors: dict, status_code: int = 200,
          alert: str | None = None) -> HTMLResponse:
    return render(request, "tip.html", {"tip": tip, "body": body, "errors": errors, "lists": LISTS,
                                        "wilayah": kecamatan_desa(), "alert": alert}, status_code=status_code,
                  signed=signed)


def _tip(request: Request, tip_id: str) -> tips.Tip:
    try:
        return tips.get_tip(request.app.state.sessions, tip_id)
    except tips.NoSuchTip:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found") from None


@router.get("")
def queue(request: Request, tip_status: str = Query(default="draft", alias="status",
                                                   pattern="^(draft|converted|dismissed)$"),
          offset: int = Query(default=0, ge=0, le=10**9), signed=Depends(operator_page)) -> HTMLResponse:
    total, found = tips.list_tips(request.app.state.sessions, status=tip_status, limit=50, offset=offset)
    return render(request, "tips.html", {"tips": found, "total": total, "status": tip_status, "offset": offset},
                  signed=signed)


@router.get("/{tip_id}")
def tip_page(tip_id: str, request: Request, signed=Depends(operator_page)) -> HTMLResponse:
    tip = _tip(request, tip_id)
    return _page(request, signed, tip, _prefill(tip), {})


@router.post("/{tip_id}/report")
async def make_report(tip_id: str, request: Request, signed=Depends(operator_page)) -> Response:
    form = await request.form()
    session.check_csrf(signed[1], form.get("csrf"))
    tip = _tip(request, tip_id)
    body: dict = {field: [v.strip() for v in str(form.get(field, "")).splitlines() if v.strip()] for field in LISTS}
    body["ad_text"] = str(form.get("ad_text", ""))
    for field in ("destination_country",):
        if str(form.get(field, "")).strip():
            body[field] = str(form[field]).strip()
    if str(form.get("kecamatan", "")).strip():
        body["location"] = {"kecamatan": str(form["kecamatan"]).strip()}
    t = translator(language(request))
    try:
        content = tips.TipReport.model_validate(body)
    except ValidationError as exc:
        errors = {str(err["loc"][0]): err["msg"] for err in exc.errors() if err["loc"]}
        return _page(request, signed, tip, body, errors, 422, t("fix_errors"))
    try:
        _, report_id = tips.convert(request.app.state.sessions, tip_id=tip_id, content=content,
                                    actor=signed[0].token_id)
    except tips.AlreadyDecided:
        return _page(request, signed, _tip(request, tip_id), body, {}, 409, t("tip_decided"))
    request.app.state.relay.poke()
    return RedirectResponse(f"/reports/{report_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{tip_id}/dismiss")
async def dismiss(tip_id: str, request: Request, signed=Depends(operator_page)) -> Response:
    form = await request.form()
    session.check_csrf(signed[1], form.get("csrf"))
    tip = _tip(request, tip_id)
    reason = str(form.get("reason", "")).strip()[:1000]
    t = translator(language(request))
    if not reason:
        return _page(request, signed, tip, _prefill(tip), {"reason": t("reason_required")}, 422, t("fix_errors"))
    try:
        tips.dismiss(request.app.state.sessions, tip_id=tip_id, reason=reason, actor=signed[0].token_id)
    except tips.AlreadyDecided:
        return _page(request, signed, _tip(request, tip_id), _prefill(tip), {}, 409, t("tip_decided"))
    return RedirectResponse("/tips", status_code=status.HTTP_303_SEE_OTHER)
