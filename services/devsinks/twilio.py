"""A Twilio-compatible Messages API: the real twilio SDK posts to it when
WASPADA_TWILIO_API_BASE points here. It checks Basic auth as Twilio does, answers like Twilio
(201 with a message resource, or Twilio's error JSON), stores each request's form fields, and
sends signed status callbacks (delivered, or a chosen failure) as Twilio would."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

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
        self._faults: deque[tuple[int, int, str | None]] = deque()  # (http status, twilio code, only to)
        self._lock = threading.Lock()

    def fail_next(self, count: int, http_status: int, code: int, to: str | None = None) -> None:
        """The next `count` requests (to that number only, if given) fail with this answer."""
        with self._lock:
            self._faults.extend([(http_status, code, to)] * count)

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
            record = {"sid": sid, "at": datetime.now(UTC).isoformat(), "form": form}
            self.messages.append(record)
            with open(self.folder / "messages.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            return record


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
        fault = sink.take_fault(form.get("To"))
        if fault:
            status, code = fault
            return JSONResponse({"code": code, "message": f"simulated error {code}", "status": status,
                                 "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status_code=status)
        if not form.get("To") or not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return JSONResponse({"code": 21604, "message": "A 'To' phone number is required.", "status": 400},
                                status_code=400)
        record = sink.store(form)
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
    params = {"MessageSid": sid, "MessageStatus": sink.status_for.get(form.get("To", ""), sink.deliver_status),
              "AccountSid": sink.account_sid,
              "To": form.get("To", ""), "From": form.get("From", "")}
    signature = RequestValidator(sink.auth_token).compute_signature(url, params)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    except httpx.HTTPError:
        pass  # Twilio, too, gives up on a callback that cannot be delivered


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
