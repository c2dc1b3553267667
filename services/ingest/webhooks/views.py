"""Provider callbacks. Twilio signs each request (X-Twilio-Signature); unsigned or wrongly
signed requests are refused. The receipt goes to the notifier through the outbox."""
from __future__ import annotations

from functools import partial
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.ingest.alerts import service as alerts
from services.ingest.errors import invalid
from services.ingest.tips import service as tips
from shared.alert_refs import case_ref, parse_ack_reply
from shared.models import AgencyRow
from shared.phones import phone_key

from shared.db import now, run_db
from shared.outbox import enqueue
from shared.schemas import DeliveryReceipt
from shared.topics import RECEIPTS

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ORIGIN = "ingest"


async def verified_form(request: Request) -> dict[str, str]:
    settings = request.app.state.settings
    if not settings.twilio_auth_token:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Twilio is not configured")
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = settings.resolved_public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "X-Twilio-Signature does not match")
    return form


@router.post("/twilio/status", status_code=status.HTTP_204_NO_CONTENT)
async def twilio_status(request: Request) -> Response:
    form = await verified_form(request)
    sid, message_status = form.get("MessageSid"), form.get("MessageStatus", "")
    if not sid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "MessageSid is required")
    receipt = DeliveryReceipt(provider_id=sid, kind="status", status=message_status, at=now())
    with request.app.state.sessions.begin() as s:
        enqueue(s, ORIGIN, RECEIPTS.name, sid, receipt)
    request.app.state.relay.poke()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request) -> Response:
    """A message to the Twilio number, by SMS or WhatsApp. From a number of an agency: an
    officer's reply, where "OK <code>" acknowledges the alert that carried the code (anything
    else is answered "Kode tidak dikenal"). From anyone else: a tip, stored as a draft for the
    operators (the same MessageSid again is the same tip); the acknowledgement reply goes
    through the notifier, paced like other SMS, so the answer here is an empty TwiML."""
    form = await verified_form(request)
    for field in ("From", "Body", "MessageSid"):
        if field not in form:
            raise invalid(("body", field), f"{field} is required")
    sender = phone_key(form["From"])
    sessions = request.app.state.sessions
    if sender:
        with sessions() as s:
            agencies = {a.code for a in s.scalars(select(AgencyRow))
                        if sender in {phone_key(p) for p in a.phones}}
    else:
        agencies = set()
    if not agencies:
        return await _tip(request, form)
    code = parse_ack_reply(form["Body"])
    reply = "Kode tidak dikenal. Balas: OK <kode>"
    alert = alerts.find_by_ack_code(sessions, code, agencies) if code else None
    if alert is not None:
        alerts.acknowledge(sessions, alert, "sms")
        request.app.state.relay.poke()
        reply = f"Terima kasih, {case_ref(alert.report_id)} dikonfirmasi."
    twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(reply)}</Message></Response>'
    return Response(content=twiml, media_type="application/xml")


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _tip(request: Request, form: dict[str, str]) -> Response:
    """Never logs the sender or the text: they are the reporter's."""
    media = form.get("NumMedia", "0")
    num_media = int(media) if media.isdigit() else 0
    body = form["Body"].replace("\x00", "").strip()
    if body or num_media:  # an empty message without media tells nothing: no tip, no reply
        settings = request.app.state.settings
        _, created = await run_db(partial(tips.receive, request.app.state.sessions, sender=form["From"].strip(),
                                          to_number=form.get("To"), body=body, provider_id=form["MessageSid"],
                                          num_media=num_media, reply=bool(settings.tip_reply)))
        if created:
            request.app.state.relay.poke()
    return Response(content=EMPTY_TWIML, media_type="application/xml")
