"""Provider callbacks. Twilio signs each request (X-Twilio-Signature); unsigned or wrongly
signed requests are refused. The receipt goes to the notifier through the outbox."""
from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.ingest.alerts import service as alerts
from shared.alert_refs import case_ref, parse_ack_reply
from shared.models import AgencyRow
from shared.phones import phone_key

from shared.db import now
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
    """An officer's SMS reply: "OK <code>" acknowledges the alert that carried the code, if the
    reply comes from a number of the agency the alert went to."""
    form = await verified_form(request)
    code = parse_ack_reply(form.get("Body", ""))
    sender = phone_key(form.get("From", ""))
    reply = "Kode tidak dikenal. Balas: OK <kode>"
    if code and sender:
        sessions = request.app.state.sessions
        with sessions() as s:
            agencies = {a.code for a in s.scalars(select(AgencyRow))
                        if sender in {phone_key(p) for p in a.phones}}
        alert = alerts.find_by_ack_code(sessions, code, agencies) if agencies else None
        if alert is not None:
            alerts.acknowledge(sessions, alert, "sms")
            request.app.state.relay.poke()
            reply = f"Terima kasih, {case_ref(alert.report_id)} dikonfirmasi."
    twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(reply)}</Message></Response>'
    return Response(content=twiml, media_type="application/xml")

