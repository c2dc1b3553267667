"""A Twilio-compatible Messages API: the real twilio SDK posts to it when
WASPADA_TWILIO_API_BASE points here. It checks Basic auth as Twilio does, answers like Twilio
(201 with a message resource, or Twilio's error JSON), stores each request's form fields, and
sends signed status callbacks (delivered, or a chosen failure) as Twilio would. It lists
messages as Twilio's Messages list resource does (filters To, From, DateSent, DateSent<,
DateSent>; newest first by date_sent; PageSize and PageToken paging with next_page_uri).
The sink sends at once: a message's date_sent is when it was accepted. WhatsApp messages
("whatsapp:+62..." on both ends, as Twilio requires) are taken like SMS."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections import deque
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator


class SmsSink:
    def __init__(self, folder: Path, account_sid: str, auth_token: str, deliver_status: str = "delivered") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.deliver_status = deliver_status  # status sent to StatusCallback; "" sends none
        self.status_for: dict[str, str] = {}  # per recipient, e.g. {"+62...": "undelivered"}
        self.messages: list[dict] = []
        self.requests = 0
        self.lookups = 0  # list requests answered (faults included)
        # Seconds between storing a message and answering the POST: a send the client may not
        # live to see answered (a worker killed while Twilio had already accepted its message).
        self.respond_delay_s = 0.0
        self._accept_delays: deque[tuple[float, str]] = deque()  # (seconds, to)
        self._faults: deque[tuple[int, int, str | None]] = deque()  # (http status, twilio code, only to)
        self._lookup_faults: deque[tuple[int, int]] = deque()
        self._lock = threading.Lock()

    def fail_next(self, count: int, http_status: int, code: int, to: str | None = None) -> None:
        """The next `count` requests (to that number only, if given) fail with this answer."""
        with self._lock:
            self._faults.extend([(http_status, code, to)] * count)

    def delay_next(self, count: int, seconds: float, to: str) -> None:
        """The next `count` messages to that number are accepted `seconds` after their request
        came in: a slow path to Twilio, where a request that left the client arrives late."""
        with self._lock:
            self._accept_delays.extend([(seconds, to)] * count)

    def take_accept_delay(self, to: str | None) -> float:
        with self._lock:
            for delay in self._accept_delays:
                if delay[1] == to:
                    self._accept_delays.remove(delay)
                    return delay[0]
            return 0.0

    def fail_next_lookups(self, count: int, http_status: int = 503, code: int = 20503) -> None:
        """The next `count` list requests (GET .../Messages.json) fail with this answer."""
        with self._lock:
            self._lookup_faults.extend([(http_status, code)] * count)

    def take_lookup_fault(self) -> tuple[int, int] | None:
        with self._lock:
            self.lookups += 1
            return self._lookup_faults.popleft() if self._lookup_faults else None

    def take_fault(self, to: str | None) -> tuple[int, int] | None:
        with self._lock:
            self.requests += 1
            for fault in self._faults:
                if fault[2] is None or fault[2] == to:
                    self._faults.remove(fault)
                    return fault[0], fault[1]
            return None

    def store(self, form: dict) -> dict:
        with self._lock:
            sid = "SM" + uuid.uuid4().hex
            record = {"sid": sid, "at": datetime.now(UTC).isoformat(), "form": form, "status": "sent"}
            self.messages.append(record)
            with open(self.folder / "messages.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            return record

    def select(self, to: str | None, from_: str | None, sent_on: tuple[datetime, datetime] | None,
               after: datetime | None, before: datetime | None) -> list[dict]:
        """Messages matching Twilio's list filters, newest first (by date_sent, then arrival)."""
        with self._lock:
            chosen = []
            for n, record in enumerate(self.messages):
                sent = datetime.fromisoformat(record["at"]).replace(microsecond=0)  # Twilio keeps seconds
                if (to and record["form"].get("To") != to) or (from_ and record["form"].get("From") != from_) \
                        or (sent_on and not sent_on[0] <= sent < sent_on[1]) \
                        or (after and sent < after) or (before and sent >= before):
                    continue
                chosen.append((sent, n, record))
        chosen.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [record for _, _, record in chosen]


def _day_or_moment(value: str, end: bool) -> datetime:
    """A DateSent bound as Twilio takes it: YYYY-MM-DD (a whole day: from its start, or up to
    its end) or an ISO 8601 date-time in UTC (what the twilio SDK sends for a datetime)."""
    value = value.strip()
    if len(value) == 10:
        day = datetime.combine(date.fromisoformat(value), time(), UTC)
        return day + timedelta(days=1) if end else day
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _resource(account: str, record: dict) -> dict:
    """A message as Twilio's API shows it."""
    form = record["form"]
    stamp = format_datetime(datetime.fromisoformat(record["at"]).replace(microsecond=0), usegmt=True)
    sid = record["sid"]
    return {
        "account_sid": account, "api_version": "2010-04-01", "body": form.get("Body", ""),
        "date_created": stamp, "date_sent": stamp, "date_updated": stamp, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
        "price": None, "price_unit": "USD", "sid": sid, "status": record.get("status", "sent"), "to": form.get("To"),
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }


def create_twilio_app(sink: SmsSink) -> FastAPI:
    app = FastAPI(title="Twilio-compatible sink")
    callbacks: set[asyncio.Task] = set()

    def check_auth(request: Request, account: str) -> None:
        expected = base64.b64encode(f"{sink.account_sid}:{sink.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}" or account != sink.account_sid:
            raise HTTPException(401, "Authenticate")

    @app.post("/2010-04-01/Accounts/{account}/Messages.json")
    async def create_message(account: str, request: Request):
        check_auth(request, account)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if delay := sink.take_accept_delay(form.get("To")):
            await asyncio.sleep(delay)
        fault = sink.take_fault(form.get("To"))
        if fault:
            status, code = fault
            return JSONResponse({"code": code, "message": f"simulated error {code}", "status": status,
                                 "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status_code=status)
        if not form.get("To") or not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return JSONResponse({"code": 21604, "message": "A 'To' phone number is required.", "status": 400},
                                status_code=400)
        if form.get("From") and form["To"].startswith("whatsapp:") != form["From"].startswith("whatsapp:"):
            # WhatsApp needs the whatsapp: prefix on both numbers, as Twilio refuses a mixed pair
            return JSONResponse({"code": 21910, "message": "Invalid From and To pair. From and To should be of "
                                 "the same channel", "status": 400}, status_code=400)
        record = sink.store(form)
        if sink.respond_delay_s:
            await asyncio.sleep(sink.respond_delay_s)  # accepted; the answer is still on its way
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        callback = form.get("StatusCallback")
        if callback and sink.status_for.get(form["To"], sink.deliver_status):
            task = asyncio.create_task(_status_callback(sink, callback, record["sid"], form))
            callbacks.add(task)
            task.add_done_callback(callbacks.discard)
        return JSONResponse(status_code=201, content={
            "sid": record["sid"], "account_sid": account, "to": form["To"], "from": form.get("From"),
            "body": form["Body"], "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "date_created": now, "date_updated": now, "date_sent": None, "price": None, "error_code": None,
            "error_message": None, "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{record['sid']}.json",
        })

    @app.get("/2010-04-01/Accounts/{account}/Messages.json")
    async def list_messages_resource(account: str, request: Request):
        check_auth(request, account)
        fault = sink.take_lookup_fault()
        if fault:
            status, code = fault
            return JSONResponse({"code": code, "message": f"simulated error {code}", "status": status,
                                 "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status_code=status)
        query = request.query_params
        try:
            page_size = int(query.get("PageSize", "50"))
            page = int(query.get("Page", "0"))
            if not 1 <= page_size <= 1000 or page < 0:
                raise ValueError(page_size)
            sent_on = query.get("DateSent")
            records = sink.select(
                query.get("To"), query.get("From"),
                (_day_or_moment(sent_on, False), _day_or_moment(sent_on, True)) if sent_on else None,
                _day_or_moment(query["DateSent>"], False) if query.get("DateSent>") else None,
                _day_or_moment(query["DateSent<"], True) if query.get("DateSent<") else None)
        except ValueError:
            return JSONResponse({"code": 20001, "message": "Invalid paging or date parameter", "status": 400},
                                status_code=400)
        # PageToken: the sid of the last message of the previous page, so that messages arriving
        # meanwhile (newest first, on top) neither shift nor repeat the pages that follow.
        token = query.get("PageToken", "")
        if token:
            after = token.removeprefix("PA")
            position = next((i for i, r in enumerate(records) if r["sid"] == after), None)
            if position is None:
                return JSONResponse({"code": 20001, "message": "Invalid PageToken", "status": 400}, status_code=400)
            records = records[position + 1:]
        chunk = records[:page_size]
        filters = [(k, query[k]) for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if query.get(k)]
        base = f"/2010-04-01/Accounts/{account}/Messages.json"

        def uri(page_number: int, page_token: str | None = None) -> str:
            params = filters + [("PageSize", page_size), ("Page", page_number)]
            return f"{base}?{urlencode(params + ([('PageToken', page_token)] if page_token else []))}"

        start = page * page_size
        return {
            "messages": [_resource(account, r) for r in chunk],
            "end": start + len(chunk) - 1 if chunk else start,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, "PA" + chunk[-1]["sid"]) if len(records) > page_size else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "page": page, "page_size": page_size, "start": start,
            "uri": uri(page, token or None),
        }

    @app.get("/_sink/messages")
    def list_messages():
        return sink.messages

    @app.post("/_sink/faults")
    def add_faults(count: int, http_status: int, code: int, to: str | None = None):
        sink.fail_next(count, http_status, code, to)
        return {"queued": count}

    return app


async def _status_callback(sink: SmsSink, url: str, sid: str, form: dict) -> None:
    await asyncio.sleep(0.05)
    status = sink.status_for.get(form.get("To", ""), sink.deliver_status)
    with sink._lock:
        for record in reversed(sink.messages):
            if record["sid"] == sid:
                record["status"] = status  # what a later list shows
                break
    params = {"MessageSid": sid, "MessageStatus": status,
              "AccountSid": sink.account_sid,
              "To": form.get("To", ""), "From": form.get("From", "")}
    signature = RequestValidator(sink.auth_token).compute_signature(url, params)
    try:
        await _callback_client().post(url, data=params, headers={"X-Twilio-Signature": signature})
    except httpx.HTTPError:
        pass  # Twilio, too, gives up on a callback that cannot be delivered


_clients: dict[int, httpx.AsyncClient] = {}


def _callback_client() -> httpx.AsyncClient:
    """One client for the callbacks of the sink's event loop: a new one per callback built an
    SSL context each time (~10 ms of CPU), and at 40 SMS/s that took most of the process that
    also drives a benchmark's load."""
    loop = id(asyncio.get_running_loop())
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient(timeout=5)
    return client


class TwilioSinkServer:
    """Runs the sink with uvicorn in a background thread."""

    def __init__(self, sink: SmsSink, port: int, host: str = "127.0.0.1") -> None:
        self.sink = sink
        config = uvicorn.Config(create_twilio_app(sink), host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
