"""Delivery integrations. Each says whether a failure is worth retrying (as Alertmanager's
notifiers do): transient failures are retried with backoff, permanent ones dead-lettered."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import aiohttp
import aiosmtplib
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from shared.settings import Settings, SmtpTls

# Twilio error codes: https://www.twilio.com/docs/api/errors
TWILIO_PERMANENT = {21211, 21610, 21614, 30006, 21408, 21612}
TWILIO_TRANSIENT = {30003, 20429, 30001}


class DeliveryError(Exception):
    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass
class Sent:
    provider_id: str | None
    status: str  # "sent" (handed over) or "delivered"


class EmailChannel:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, recipients: list[str], subject: str, body: str, alert_id: str) -> Sent:
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.mail_from
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = subject  # EmailMessage refuses CR/LF in headers: no header injection
        msg["Message-ID"] = make_msgid(idstring=alert_id, domain="waspada.local")
        msg["X-Waspada-Alert"] = alert_id
        msg.set_content(body)
        try:
            errors, _ = await aiosmtplib.send(
                msg, hostname=s.smtp_host, port=s.smtp_port or 25,
                username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_tls == SmtpTls.tls, start_tls=s.smtp_tls == SmtpTls.starttls,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(f"smtp recipients refused {codes}", transient=all(400 <= c < 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"smtp {exc.code}", transient=400 <= exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"smtp {type(exc).__name__}", transient=True) from None
        if errors:  # some recipients refused: permanent for them, the rest got it
            return Sent(provider_id=None, status="sent")
        return Sent(provider_id=str(msg["Message-ID"]), status="sent")


class SmsChannel:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            s = self.settings
            # The SDK's own retries stay off: a retried POST can send the SMS twice.
            http = AsyncTwilioHttpClient(timeout=15, max_retries=None)
            client = Client(s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), http_client=http)
            client.api.base_url = s.twilio_api_base.rstrip("/")
            self._client = client
        return self._client

    async def send(self, to: str, body: str, status_callback: str | None) -> Sent:
        s = self.settings
        kwargs = {"to": to, "from_": s.twilio_from, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = await self._get_client().messages.create_async(**kwargs)
        except TwilioRestException as exc:
            code = exc.code or 0
            transient = exc.status == 429 or exc.status >= 500 or code in TWILIO_TRANSIENT
            if code in TWILIO_PERMANENT:
                transient = False
            raise DeliveryError(f"twilio {exc.status}/{code}", transient=transient) from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"twilio {type(exc).__name__}", transient=True) from None
        return Sent(provider_id=message.sid, status="sent")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
