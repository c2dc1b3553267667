"""The acknowledgement reply to a tip, against the Twilio-compatible server that the real
twilio SDK talks to, on SQLite and PostgreSQL: claimed once however often its message comes;
a claim left by a worker that died is taken over in doubt, Twilio is asked first, and the reply
goes only if Twilio has none; a transient failure is retried; a permanent one is recorded."""
from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from services.notifier import tips
from services.notifier.channels import SmsChannel
from services.notifier.dispatcher import SendLimiter, backoff_s
from shared.db import now
from shared.models import ServiceHeartbeat, TipRow
from shared.settings import Settings


def _settings(sinks) -> Settings:
    return Settings(twilio_account_sid=sinks.sms.account_sid, twilio_auth_token=sinks.sms.auth_token,
                    twilio_from="+15005550006", twilio_api_base=f"http://127.0.0.1:{sinks.twilio_port}",
                    heartbeat_stale_s=10)


def _tip(sessions, channel: str = "whatsapp", **reply) -> TipRow:
    number = f"+62812{uuid.uuid4().int % 10**7:07d}"
    row = TipRow(id=f"tip_{uuid.uuid4().hex[:20]}", received_at=now(), channel=channel,
                 sender=f"whatsapp:{number}" if channel == "whatsapp" else number, body="ada calo",
                 provider_id="SM" + uuid.uuid4().hex, status="draft", **{"reply_status": "pending", **reply})
    with sessions.begin() as s:
        s.add(row)
    return row


def _to(sinks, address: str) -> list[dict]:
    return [m for m in list(sinks.sms.messages) if m["form"]["To"] == address]


def _reply_of(sessions, tip_id: str) -> TipRow:
    with sessions() as s:
        return s.get(TipRow, tip_id)


def _run(sinks, sessions, steps, instance: str = "live") -> None:
    settings = _settings(sinks)

    async def run():
        sms = SmsChannel(settings)
        replier = tips.TipReplier(settings, sessions, sms, SendLimiter(50, paced=True), instance, backoff_s)
        try:
            await steps(replier)
        finally:
            await sms.close()

    asyncio.run(run())


def test_a_reply_is_claimed_once_however_often_its_message_comes(sinks, sessions):
    tip = _tip(sessions)

    async def steps(replier):
        await asyncio.gather(*(replier.handle(tip.id) for _ in range(3)))  # redelivered, and a second worker
        await replier.handle(tip.id)

    _run(sinks, sessions, steps)
    sent = _to(sinks, tip.sender)
    assert len(sent) == 1 and sent[0]["form"]["From"] == "whatsapp:+15005550006"
    row = _reply_of(sessions, tip.id)
    assert (row.reply_status, row.reply_attempts, row.reply_provider_id) == ("sent", 1, sent[0]["sid"])


def test_a_dead_workers_claim_is_looked_up_at_twilio_before_sending(sinks, sessions):
    settings = _settings(sinks)
    long_ago = now() - timedelta(seconds=60)
    with sessions.begin() as s:
        s.add(ServiceHeartbeat(service="notifier", instance="dead", ready=True, updated_at=long_ago))
    went = _tip(sessions, reply_status="sending", reply_claimed_by="dead", reply_claimed_at=long_ago, reply_attempts=1)
    lost = _tip(sessions, channel="sms", reply_status="sending", reply_claimed_by="dead", reply_claimed_at=long_ago,
                reply_attempts=1)
    busy = _tip(sessions, channel="sms", reply_status="sending", reply_claimed_by="live", reply_claimed_at=long_ago,
                reply_attempts=1)

    async def steps(replier):
        # The dead worker had handed this one to Twilio before it died, unrecorded.
        await replier.sms.send(went.sender, settings.tip_reply, None, from_="whatsapp:+15005550006")
        for tip in (went, lost, busy):
            await replier.handle(tip.id)

    _run(sinks, sessions, steps)
    assert len(_to(sinks, went.sender)) == 1, "found at Twilio: not sent again"
    row = _reply_of(sessions, went.id)
    assert row.reply_status == "sent" and row.reply_provider_id == _to(sinks, went.sender)[0]["sid"]
    assert row.reply_in_doubt_since is None
    assert len(_to(sinks, lost.sender)) == 1, "Twilio has none: sent"
    assert _reply_of(sessions, lost.id).reply_status == "sent"
    assert _to(sinks, busy.sender) == [] and _reply_of(sessions, busy.id).reply_status == "sending", \
        "a live worker's claim is left alone"


def test_transient_failures_retry_and_permanent_ones_are_recorded(sinks, sessions):
    flaky, gone = _tip(sessions, channel="sms"), _tip(sessions, channel="sms")
    sinks.sms.fail_next(1, 503, 20503, to=flaky.sender)
    sinks.sms.fail_next(1, 400, 21610, to=gone.sender)  # unsubscribed

    async def steps(replier):
        await replier.handle(flaky.id)
        await replier.handle(gone.id)
        assert _reply_of(sessions, flaky.id).reply_status == "pending"
        with sessions.begin() as s:  # the backoff is over
            s.get(TipRow, flaky.id).reply_next_at = now()
        for _ in range(20):
            if _to(sinks, flaky.sender):
                break
            await replier.handle(flaky.id)
            await asyncio.sleep(0.05)

    _run(sinks, sessions, steps)
    assert len(_to(sinks, flaky.sender)) == 1 and _reply_of(sessions, flaky.id).reply_status == "sent"
    row = _reply_of(sessions, gone.id)
    assert _to(sinks, gone.sender) == [] and row.reply_status == "failed" and "21610" in row.reply_error
    assert gone.sender not in row.reply_error
