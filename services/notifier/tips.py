"""The acknowledgement reply to whoever sent a tip (WASPADA_TIP_REPLY), by SMS or WhatsApp as
the tip came, through the same SMS channel and send limiter as alerts (after them: bulk
priority).

tip-replies.v1 names the tip; the sender's number is read here from the tips table and goes
nowhere but to Twilio: not into a log, an event or an error text. The tip row is the ledger:
a reply is claimed (pending -> sending) before it is sent and recorded (sent) after, so a
redelivered message finds nothing to claim. A claim left by a worker that stopped beating is
taken over in doubt: Twilio is asked first whether the reply went (find_sent), and it is sent
only if it did not. Transient failures retry with backoff until WASPADA_DELIVERY_DEADLINE_S
after the tip arrived; permanent ones mark the reply failed."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.channels import DeliveryError, SmsChannel
from shared.db import now, run_db
from shared.models import ServiceHeartbeat, TipRow
from shared.settings import Settings

log = logging.getLogger(__name__)
PRIORITY = 2  # after urgent and normal alerts in the SMS limiter's queue
SAFETY_NET_S = 30.0  # a pending reply this old is sent by the sweep even if its message never came


@dataclass(frozen=True)
class Claimed:
    id: str
    sender: str | None
    channel: str
    attempts: int  # including this one
    in_doubt_since: datetime | None


def claim(sessions: sessionmaker[Session], instance: str, stale_s: float, tip_id: str | None = None,
          limit: int = 20) -> list[Claimed]:
    """Take replies to send: the one of `tip_id` (or, without it, those whose retry is due or
    whose message is overdue), and those left 'sending' by a worker no longer beating (in
    doubt). Each is claimed by a conditional update, so no two workers send the same reply."""
    stamp = now()
    cutoff = stamp - timedelta(seconds=stale_s)
    pending = TipRow.reply_status == "pending"
    if tip_id is None:
        pending &= or_(TipRow.reply_next_at <= stamp,
                       TipRow.reply_next_at.is_(None) & (TipRow.received_at < stamp - timedelta(seconds=SAFETY_NET_S)))
    else:
        pending &= or_(TipRow.reply_next_at.is_(None), TipRow.reply_next_at <= stamp)
    stuck = (TipRow.reply_status == "sending") & (TipRow.reply_claimed_at < cutoff)
    query = select(TipRow.id, TipRow.sender, TipRow.channel, TipRow.reply_status, TipRow.reply_attempts,
                   TipRow.reply_claimed_by, TipRow.reply_claimed_at, TipRow.reply_in_doubt_since) \
        .where(pending | stuck)
    if tip_id is not None:
        query = query.where(TipRow.id == tip_id)
    claimed = []
    with sessions.begin() as s:
        rows = s.execute(query.order_by(TipRow.received_at).limit(limit)).all()
        if any(r.reply_status == "sending" for r in rows):
            alive = set(s.scalars(select(ServiceHeartbeat.instance).where(
                ServiceHeartbeat.service == "notifier", ServiceHeartbeat.updated_at >= cutoff))) | {instance}
        for r in rows:
            doubt = r.reply_in_doubt_since
            if r.reply_status == "sending":
                if r.reply_claimed_by in alive:
                    continue  # its worker is still at it
                doubt = min(doubt or r.reply_claimed_at, r.reply_claimed_at)  # it may have sent it
            attempts = (r.reply_attempts or 0) + 1
            done = s.execute(update(TipRow).where(
                TipRow.id == r.id, TipRow.reply_status == r.reply_status,
                TipRow.reply_attempts == r.reply_attempts).values(
                reply_status="sending", reply_claimed_by=instance, reply_claimed_at=stamp, reply_attempts=attempts,
                reply_in_doubt_since=doubt).execution_options(synchronize_session=False))
            if done.rowcount == 1:
                claimed.append(Claimed(r.id, r.sender, r.channel, attempts, doubt))
    return claimed


def _finish(sessions: sessionmaker[Session], tip_id: str, instance: str, **values) -> bool:
    """Record the outcome of this worker's claim; False if the claim was taken over meanwhile."""
    with sessions.begin() as s:
        done = s.execute(update(TipRow).where(TipRow.id == tip_id, TipRow.reply_status == "sending",
                                              TipRow.reply_claimed_by == instance)
                         .values(reply_claimed_by=None, **values).execution_options(synchronize_session=False))
        return done.rowcount == 1


def mark_sent(sessions, tip_id: str, instance: str, provider_id: str | None) -> bool:
    return _finish(sessions, tip_id, instance, reply_status="sent", reply_provider_id=provider_id,
                   reply_in_doubt_since=None, reply_error=None, reply_next_at=None)


def mark_failed(sessions, tip_id: str, instance: str, reason: str) -> bool:
    return _finish(sessions, tip_id, instance, reply_status="failed", reply_error=reason[:200], reply_next_at=None)


def mark_retry(sessions, tip_id: str, instance: str, reason: str, delay_s: float, deadline_s: float,
               in_doubt_since: datetime | None) -> str | None:
    """Back to pending after `delay_s`, or failed once past the deadline. Returns the status."""
    with sessions() as s:
        received = s.scalar(select(TipRow.received_at).where(TipRow.id == tip_id))
    at = now() + timedelta(seconds=delay_s)
    if received is None or at > received + timedelta(seconds=deadline_s):
        return "failed" if mark_failed(sessions, tip_id, instance, f"{reason}; deadline passed") else None
    values = {"reply_status": "pending", "reply_error": reason[:200], "reply_next_at": at}
    if in_doubt_since is not None:
        values["reply_in_doubt_since"] = in_doubt_since
    return "pending" if _finish(sessions, tip_id, instance, **values) else None


def other_replies(sessions, tip_id: str, sender: str) -> set[str]:
    """Replies recorded as sent for this sender's other tips: a lookup must not take one of
    those (the same text) for this tip's."""
    with sessions() as s:
        return set(s.scalars(select(TipRow.reply_provider_id).where(
            TipRow.sender == sender, TipRow.id != tip_id, TipRow.reply_provider_id.is_not(None))))


def reply_from(settings: Settings, channel: str) -> str | None:
    """Twilio wants the whatsapp: prefix on both ends of a WhatsApp message."""
    sender = settings.twilio_from
    if channel == "whatsapp" and sender and not sender.startswith("whatsapp:"):
        return f"whatsapp:{sender}"
    return sender


class TipReplier:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], sms: SmsChannel, limiter,
                 instance: str, backoff) -> None:
        self.settings, self.sessions, self.sms, self.limiter = settings, sessions, sms, limiter
        self.instance, self.backoff = instance, backoff
        self._wake = asyncio.Event()

    async def handle(self, tip_id: str) -> None:
        """A tip-replies.v1 message: send that tip's reply unless it is sent, being sent or done."""
        for claimed in await run_db(claim, self.sessions, self.instance, self.settings.heartbeat_stale_s, tip_id, 1):
            await self.reply(claimed)

    async def run(self, interval_s: float = 1.0) -> None:
        """Retries that came due, replies whose worker died, and any whose message is overdue."""
        while True:
            try:
                claimed = await run_db(claim, self.sessions, self.instance, self.settings.heartbeat_stale_s)
                await asyncio.gather(*(self.reply(c) for c in claimed))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tip replies: sweep failed; retrying")
            await asyncio.sleep(interval_s)

    async def reply(self, tip: Claimed) -> None:
        text = self.settings.tip_reply
        if not text:
            await run_db(_finish, self.sessions, tip.id, self.instance, reply_status="disabled")
            return
        if not tip.sender:  # purged meanwhile
            await run_db(mark_failed, self.sessions, tip.id, self.instance, "sender purged")
            return
        from_ = reply_from(self.settings, tip.channel)
        if tip.in_doubt_since is not None and await self._settled_at_twilio(tip, text, from_):
            return
        try:
            async with self.limiter.slot(PRIORITY):
                started = now()
                sent = await self.sms.send(tip.sender, text, None, from_=from_)
        except DeliveryError as exc:
            if not exc.transient:
                await run_db(mark_failed, self.sessions, tip.id, self.instance, exc.reason)
                log.error("tip %s: reply failed permanently: %s", tip.id, exc.reason)
                return
            doubt = min(tip.in_doubt_since or started, started) if exc.in_doubt else None
            await self._retry(tip, exc.reason, doubt)
            return
        # Handed over: from here on nothing may lead to sending it again.
        while True:
            try:
                await run_db(mark_sent, self.sessions, tip.id, self.instance, sent.provider_id)
                break
            except Exception:
                log.exception("tip %s: reply sent, recording it failed; retrying the record", tip.id)
                await asyncio.sleep(1.0)
        log.info("tip %s: reply sent by %s (attempt %d)", tip.id, tip.channel, tip.attempts)

    async def _retry(self, tip: Claimed, reason: str, in_doubt_since: datetime | None) -> None:
        delay = self.backoff(tip.attempts)
        outcome = await run_db(mark_retry, self.sessions, tip.id, self.instance, reason, delay,
                               self.settings.delivery_deadline_s, in_doubt_since)
        if outcome == "failed":
            log.error("tip %s: reply %s, deadline passed: failed", tip.id, reason)
        else:
            log.warning("tip %s: reply %s, retry in %.1fs", tip.id, reason, delay)

    async def _settled_at_twilio(self, tip: Claimed, text: str, from_: str | None) -> bool:
        """An earlier attempt may have reached Twilio unrecorded: True when Twilio shows it
        (recorded as sent) or cannot be asked (retried later: neither sent twice nor dropped)."""
        since = tip.in_doubt_since - timedelta(seconds=self.settings.sms_lookup_margin_s)
        skip = await run_db(other_replies, self.sessions, tip.id, tip.sender)
        try:
            found = await self.sms.find_sent(tip.sender, text, since, from_=from_, skip=skip)
        except DeliveryError as exc:
            await self._retry(tip, f"in doubt, not sent again until Twilio answers: {exc.reason}", None)
            return True
        if found is None:
            return False
        await run_db(mark_sent, self.sessions, tip.id, self.instance, found.provider_id)
        log.warning("tip %s: an unrecorded earlier reply was found at Twilio (%s); not sent again",
                    tip.id, found.provider_id)
        return True
