"""The SMS rate limit, against the Twilio-compatible server that the real twilio SDK talks to:
never more than WASPADA_SMS_PER_S messages reach Twilio within any second, even when some
requests arrive late (a slow path to Twilio), and an urgent alert waiting for its turn goes
before bulk ones that waited longer. The limiter lives in the worker, so SQLite suffices."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from services.notifier import ledger
from services.notifier.dispatcher import Dispatcher
from services.notifier.routing import PlannedAlert
from shared.db import create_schema, make_engine, make_sessionmaker, run_db
from shared.outbox import OutboxRelay
from shared.schemas import Agency, AlertChannel, ScreeningResult, utcnow
from shared.settings import Settings


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'rate.db'}")
    create_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _phone() -> str:
    return f"+62811{uuid.uuid4().int % 10**7:07d}"


def _plan(sessions, phone: str, count: int, priority: int) -> None:
    agency = Agency(code=f"ag-{phone[-7:]}", name="Rate", receives=["minor"], emails=[], phones=[phone])
    planned = [(ScreeningResult(report_id=f"rpt_{uuid.uuid4().hex}", screened_at=utcnow(), categories=["minor"],
                                risk_level="medium"),
                PlannedAlert(agency, AlertChannel.sms, (phone,), priority)) for _ in range(count)]
    ledger.record_planned(sessions, planned, 600)


def _to(sinks, *phones: str) -> list[dict]:
    return [m for m in list(sinks.sms.messages) if m["form"]["To"] in phones]


def _run(sinks, sessions, rate: float, until, during=None) -> None:
    settings = Settings(twilio_account_sid=sinks.sms.account_sid, twilio_auth_token=sinks.sms.auth_token,
                        twilio_from="+15005550006", twilio_api_base=f"http://127.0.0.1:{sinks.twilio_port}",
                        public_url="http://127.0.0.1:9", sms_per_s=rate)

    async def run():
        d = Dispatcher(settings, sessions, OutboxRelay(sessions, None, ledger.ORIGIN), instance="worker")
        task = asyncio.create_task(d.run())
        try:
            if during:
                await during(d)
            for _ in range(600):
                if until():
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await d.close()

    asyncio.run(run())


def test_no_more_sms_reach_twilio_in_any_second_than_the_rate(sinks, sessions):
    """The first two requests reach Twilio 0.9 s late. A limit on starts alone (sends 0.25 s
    apart) let them arrive together with the prompt ones after them: six within one second at
    4/s. Counted on the arrival times the server records; a send holds its place in the window
    until its answer, so no timing on this machine can make more than four arrive."""
    rate, count = 4, 10
    phone = _phone()
    _plan(sessions, phone, count, 1)
    sinks.sms.delay_next(2, 0.9, to=phone)
    _run(sinks, sessions, rate, lambda: len(_to(sinks, phone)) >= count)
    stamps = sorted(datetime.fromisoformat(m["at"]).timestamp() for m in _to(sinks, phone))
    assert len(stamps) == count
    most = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
    assert most <= rate, [round(t - stamps[0], 3) for t in stamps]


def test_an_urgent_sms_waiting_for_the_rate_goes_before_bulk(sinks, sessions):
    """Eight bulk SMS (retro-screening) are claimed at once and wait for their turn at 2/s; an
    urgent one planned after the first went out is sent next or nearly so, not after them all
    (a first-come queue in the limiter sent it last)."""
    bulk, urgent = _phone(), _phone()
    _plan(sessions, bulk, 8, 2)

    async def add_urgent(d):
        while not _to(sinks, bulk):
            await asyncio.sleep(0.01)
        await run_db(_plan, sessions, urgent, 1, 0)
        d.poke()

    _run(sinks, sessions, 2, lambda: len(_to(sinks, bulk, urgent)) >= 9, add_urgent)
    order = [m["form"]["To"] for m in _to(sinks, bulk, urgent)]
    assert len(order) == 9
    assert order.index(urgent) <= 3, order  # at 2/s the claim (a poke) is in long before the 4th turn
