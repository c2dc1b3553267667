"""Delivery integrations. Each says whether a failure is worth retrying (as Alertmanager's
notifiers do): transient failures are retried with backoff, permanent ones dead-lettered."""
from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from email.charset import QP, Charset
from email.header import Header
from email.policy import compat32
from email.utils import getaddresses, parseaddr

import aiohttp
import aiosmtplib
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from shared.settings import Settings, SmtpTls

# Twilio error codes: https://www.twilio.com/docs/api/errors
TWILIO_PERMANENT = {21211, 21610, 21614, 30006, 21408, 21612}
TWILIO_TRANSIENT = {30003, 20429, 30001}


class DeliveryError(Exception):
    """`in_doubt`: the request went out and no answer came back (a timeout, a dropped
    connection), so the provider may have accepted the message all the same."""

    def __init__(self, reason: str, *, transient: bool, in_doubt: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.in_doubt = in_doubt


class _SendInterrupted(Exception):
    """The message was being handed to the server when the send failed without an answer."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class Sent:
    provider_id: str | None
    status: str  # "sent" (handed over) or "delivered"


class SmtpPool:
    """Open SMTP connections reused across sends (connect, STARTTLS and login cost more than a
    message). A connection that failed in any way is closed, never reused; idle or well-used
    ones are renewed before the server would drop them."""

    MAX_IDLE_S = 30.0
    MAX_MESSAGES = 100

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[tuple[aiosmtplib.SMTP, float, int]] = []  # (client, last used, messages sent)
        self._slots = asyncio.Semaphore(max(1, settings.smtp_pool_size))
        # Certificates are always verified; a private CA can be added, never verification turned off.
        self._tls_context = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port or (465 if s.smtp_tls == SmtpTls.tls else 25),
            username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_tls == SmtpTls.tls, start_tls=s.smtp_tls == SmtpTls.starttls,
            tls_context=self._tls_context, timeout=s.smtp_timeout_s)
        await client.connect()  # EHLO, STARTTLS and AUTH as configured
        return client

    async def send(self, email: OutgoingEmail) -> dict:
        """Raises _SendInterrupted when the failure came while the message was being handed over
        and the server gave no answer (it may have taken it); other failures as they are."""
        handing_over = False
        try:
            async with self._slots, asyncio.timeout(self.settings.smtp_timeout_s):  # the whole send
                client, used = None, 0
                while self._idle and client is None:
                    candidate, last, used = self._idle.pop()
                    if time.monotonic() - last < self.MAX_IDLE_S and candidate.is_connected:
                        client = candidate
                    else:
                        _close(candidate)
                if client is None:
                    client, used = await self._connect(), 0
                try:
                    handing_over = True
                    errors, _ = await client.sendmail(email.sender, email.recipients, email.content,
                                                      mail_options=email.mail_options)
                    handing_over = False
                except BaseException:
                    _close(client)
                    raise
                if used + 1 < self.MAX_MESSAGES:
                    self._idle.append((client, time.monotonic(), used + 1))
                else:
                    await _quit(client)
                return errors
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            raise  # the server answered: it did not take the message
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if handing_over:
                raise _SendInterrupted(exc) from exc
            raise

    async def close(self) -> None:
        while self._idle:
            await _quit(self._idle.pop()[0])


def _close(client: aiosmtplib.SMTP) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), 2.0)
    except Exception:  # noqa: BLE001
        _close(client)


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in the raw message, unlike base64


def message_id(alert_id: str, sender: str) -> str:
    """The alert's Message-ID: the same for every attempt, so that a message sent again after
    an unrecorded send (a worker killed between the server's 250 and the ledger) is the same
    message to a mailbox or relay that drops repeated Message-IDs."""
    return f"<{alert_id}@{_sender_domain(sender)}>"


@lru_cache(maxsize=8)
def _sender_domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    if not domain or any(c in domain for c in "<>@ \t\r\n\x00"):
        return "waspada.local"
    return domain


_MIME_HEADERS = ('Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
                 "Content-Transfer-Encoding: quoted-printable\r\n")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class OutgoingEmail:
    """A message as it goes on the wire, with its envelope."""
    sender: str  # envelope: the address in From
    recipients: list[str]  # envelope: the addresses in To
    content: bytes  # ASCII, CRLF line endings
    message_id: str
    mail_options: list[str]


def build_email(sender: str, recipients: list[str], subject: str, body: str, alert_id: str) -> OutgoingEmail:
    """A plain-text UTF-8 message (quoted-printable), written as bytes: the same bytes that the
    compat32 MIMEText of earlier versions flattened to (tested), without building and then
    copying and flattening a message object, which cost ~0.2 ms of CPU an email. Header
    injection is refused here explicitly."""
    headers = {"From": sender, "To": ", ".join(recipients), "Subject": subject, "X-Waspada-Alert": alert_id}
    for name, value in headers.items():
        if any(c in value for c in "\r\n\x00"):
            raise DeliveryError(f"email header {name} would hold a line break", transient=False)
    headers["Message-ID"] = message_id(alert_id, sender)
    lines = [_MIME_HEADERS]
    for name, value in headers.items():
        lines.append(compat32.fold(name, value if value.isascii() else Header(value, "utf-8")).replace("\n", "\r\n"))
    lines.append("\r\n")
    lines.append(_LINE_BREAKS.sub("\r\n", _UTF8_QP.body_encode(body)))
    if lines[-1] and not lines[-1].endswith("\r\n"):
        lines.append("\r\n")  # as DATA would end it
    # The envelope as aiosmtplib's send_message takes it from the headers.
    envelope_from = _addresses(headers["From"])
    envelope_to = _addresses(headers["To"])
    utf8 = not (envelope_from[0] if envelope_from else "").isascii() or not "".join(envelope_to).isascii()
    return OutgoingEmail(sender=envelope_from[0] if envelope_from else "", recipients=envelope_to,
                         content="".join(lines).encode("ascii"), message_id=headers["Message-ID"],
                         mail_options=["SMTPUTF8"] if utf8 else [])


def _addresses(value: str) -> list[str]:
    return [address for _, address in getaddresses([value])]


class EmailChannel:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = SmtpPool(settings)

    async def send(self, recipients: list[str], subject: str, body: str, alert_id: str) -> Sent:
        email = build_email(self.settings.mail_from, recipients, subject, body, alert_id)
        try:
            errors = await self.pool.send(email)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(f"smtp recipients refused {codes}", transient=all(400 <= c < 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"smtp {exc.code}", transient=400 <= exc.code < 500) from None
        except _SendInterrupted as exc:
            raise DeliveryError(f"smtp {type(exc.cause).__name__} while sending", transient=True,
                                in_doubt=True) from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"smtp {type(exc).__name__}", transient=True) from None
        if errors:  # some recipients refused: permanent for them, the rest got it
            return Sent(provider_id=None, status="sent")
        return Sent(provider_id=email.message_id, status="sent")

    async def close(self) -> None:
        await self.pool.close()


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

    async def send(self, to: str, body: str, status_callback: str | None, from_: str | None = None) -> Sent:
        """from_: WASPADA_TWILIO_FROM unless given (a WhatsApp reply: whatsapp:<that number>)."""
        s = self.settings
        kwargs = {"to": to, "from_": from_ or s.twilio_from, "body": body}
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
        except aiohttp.ClientConnectorError as exc:  # no connection: the request never went out
            raise DeliveryError(f"twilio {type(exc).__name__}", transient=True) from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            # Sent, and no answer: Twilio may have accepted it. The retry looks it up first.
            raise DeliveryError(f"twilio {type(exc).__name__}", transient=True, in_doubt=True) from None
        return Sent(provider_id=message.sid, status="sent")

    LOOKUP_PAGE_SIZE = 100
    LOOKUP_LIMIT = 1000

    async def find_sent(self, to: str, reference: str, since: datetime, from_: str | None = None,
                        skip: Collection[str] = ()) -> Sent | None:
        """The message to `to` whose body holds `reference` (the alert id, in the alert's link)
        that Twilio accepted since `since`, or None when Twilio shows none. Raises DeliveryError
        (transient) when Twilio cannot be asked or the answer is not conclusive: the caller must
        then neither send nor give up.

        Twilio lists messages newest first by date_sent, filtered here by recipient, sender and
        DateSent >= since, page after page (the SDK follows next_page_uri). A message Twilio has
        accepted but not sent yet has no date_sent, so the newest page for that recipient is
        also read without the date filter. from_: as in send(); skip: message sids that are
        known to be other sends with the same reference (a tip reply's text is the same for all)."""
        messages = self._get_client().messages
        from_ = from_ or self.settings.twilio_from
        try:
            checked = 0
            async for message in await messages.stream_async(to=to, from_=from_,
                                                              date_sent_after=since, page_size=self.LOOKUP_PAGE_SIZE):
                if reference in (message.body or "") and message.sid not in skip:
                    return Sent(provider_id=message.sid, status=str(message.status or "sent"))
                checked += 1
                if checked >= self.LOOKUP_LIMIT:
                    raise DeliveryError(f"twilio lookup: over {self.LOOKUP_LIMIT} messages to check", transient=True)
            for message in await messages.list_async(to=to, from_=from_, limit=self.LOOKUP_PAGE_SIZE):
                if reference in (message.body or "") and message.sid not in skip:
                    return Sent(provider_id=message.sid, status=str(message.status or "sent"))
        except TwilioRestException as exc:
            raise DeliveryError(f"twilio lookup {exc.status}/{exc.code or 0}", transient=True) from None
        except TwilioException as exc:  # a page that could not be read: ("Unable to fetch page", response)
            status = getattr(exc.args[1], "status_code", "?") if len(exc.args) > 1 else "?"
            raise DeliveryError(f"twilio lookup {status}", transient=True) from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise DeliveryError(f"twilio lookup {type(exc).__name__}", transient=True) from None
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
