"""Sends what the ledger holds: claims due alerts, delivers, records the outcome.

Retries: transient failures back off exponentially with full jitter until the alert's
deadline; permanent failures go straight to alerts.dead.v1."""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import Row
from sqlalchemy.orm import Session, sessionmaker

from services.notifier import ledger
from services.notifier.channels import DeliveryError, EmailChannel, SmsChannel
from services.notifier.compose import compose
from shared.db import run_db
from shared.outbox import OutboxRelay
from shared.schemas import Agency, ScreeningResult
from shared.settings import Settings

log = logging.getLogger(__name__)


class SendLimiter:
    """At most `rate` sends a second for one channel and sender, in any sliding window, counted
    where the provider sees them: a send holds its place from when it starts until a window
    after its answer, since a request may reach the provider at any moment before the answer.
    A limit on starts alone let arrivals bunch behind one slow request (measured at 20/s:
    starts >= 50 ms apart, yet 22 reached the Twilio sink within one second, the request latency
    ranging 1.6-128 ms). `paced`: starts are also 1/rate apart, never a burst. Waiters are
    served most urgent first (lowest priority number), then in arrival order.

    A whole rate is `rate` sends a window of 1 s; below 1/s or between whole rates, floor(rate)
    (at least one) a window of floor(rate)/rate seconds."""

    def __init__(self, rate: float, paced: bool) -> None:
        self.capacity = max(1, int(rate))
        self.window_s = self.capacity / rate
        self.gap_s = 1.0 / rate if paced else 0.0
        self._active = 0  # started, not answered yet
        self._ends: deque[float] = deque()  # answer times still inside the window, oldest first
        self._last_start = float("-inf")
        self._waiters: list[tuple[int, int, asyncio.Future]] = []  # heap
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def slot(self, priority: int = 1):
        """Held for the whole send: from before the request goes out until its answer (or failure)."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._active -= 1
            self._ends.append(time.monotonic())
            self._grant()

    def _ready_at(self, current: float) -> float | None:
        """When the next send may start: `current` or later; None: not before a send ends."""
        while self._ends and self._ends[0] <= current - self.window_s:
            self._ends.popleft()
        over = self._active + len(self._ends) - self.capacity  # places to free before a start
        if over >= len(self._ends):
            return None
        at = max(current, self._last_start + self.gap_s)
        return at if over < 0 else max(at, self._ends[over] + self.window_s)

    async def _acquire(self, priority: int) -> None:
        current = time.monotonic()
        if not self._waiters and self._ready_at(current) == current:
            self._start(current)
            return
        granted = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), granted))
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted, then cancelled: give it back
                self._active -= 1
                self._grant()
            raise

    def _start(self, current: float) -> None:
        self._active += 1
        self._last_start = current

    def _grant(self) -> None:
        """Start waiters while the window allows, most urgent first; else wake up when it will."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            if self._waiters[0][2].done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            current = time.monotonic()
            at = self._ready_at(current)
            if at is None:
                return  # a send ending calls again
            if at > current:
                self._timer = asyncio.get_running_loop().call_later(at - current, self._grant)
                return
            self._start(current)
            heapq.heappop(self._waiters)[2].set_result(None)


def backoff_s(attempt: int, base: float = 0.5, cap: float = 60.0) -> float:
    return random.uniform(0, min(cap, base * 2 ** attempt))


class SentRecorder:
    """Stores handed-over sends in batches, since the database, not the providers, limits the
    rate otherwise: at most one write every `spacing_s`, each with every send that finished
    since the last. A send after a quiet spell is written at once; under load a send waits for
    the next write, at most `spacing_s` (it was always a fixed 10 ms linger). That wait plus the
    write is the window in which a crash leaves a send accepted but unrecorded (see
    AlertSend.in_doubt_since); a write per send would shrink it further but cost ~1 ms of CPU
    a send at 300 sends/s on PostgreSQL, a third of the notifier's budget. A send is confirmed
    to its caller only once stored; a failed write is retried until the database takes it,
    because from here on nothing may lead to sending again."""

    def __init__(self, sessions: sessionmaker[Session], failover_after_s: float,
                 max_batch: int = 200, spacing_s: float = 0.01) -> None:
        self.sessions, self.failover_after_s = sessions, failover_after_s
        self.max_batch, self.spacing_s = max_batch, spacing_s
        self._pending: list[tuple[Row, str | None, asyncio.Future]] = []
        self._wake = asyncio.Event()

    async def record(self, row: Row, provider_id: str | None) -> None:
        """`row` as claim_due returned it: its key columns go into the alerts.v1 event."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((row, provider_id, done))
        self._wake.set()
        await done

    async def run(self) -> None:
        last_write = float("-inf")
        while True:
            await self._wake.wait()
            # At once after a quiet spell; under load, spacing_s after the previous write began.
            await asyncio.sleep(max(0.0, last_write + self.spacing_s - time.monotonic()))
            last_write = time.monotonic()
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            if not self._pending:
                self._wake.clear()
            while batch:
                try:
                    await run_db(ledger.mark_sent_many, self.sessions, [(a, p) for a, p, _ in batch],
                                 self.failover_after_s)
                    break
                except Exception:
                    log.exception("%d alerts sent, but recording them failed; retrying the record", len(batch))
                    await asyncio.sleep(1.0)
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)


class Dispatcher:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], relay: OutboxRelay,
                 instance: str, concurrency: int = 32) -> None:
        self.settings, self.sessions, self.relay, self.instance = settings, sessions, relay, instance
        self.email = EmailChannel(settings)
        self.sms = SmsChannel(settings)
        self.limiters = {"email": SendLimiter(settings.email_per_s, paced=False),
                         "sms": SendLimiter(settings.sms_per_s, paced=True)}  # SMS: never a burst
        self.slots = asyncio.Semaphore(concurrency)
        self._claim_at = max(1, concurrency // 4)  # free slots that make a claim worth a transaction
        self._wake = asyncio.Event()
        self._new_work = True  # poked (or the poll came round) since the last claim
        self._inflight: set[asyncio.Task] = set()
        self.recorder = SentRecorder(sessions, settings.failover_after_s)

    def poke(self) -> None:
        self._new_work = True
        self._wake.set()

    async def run(self) -> None:
        recorder = asyncio.create_task(self.recorder.run(), name="sent-recorder")
        try:
            await self._dispatch()
        finally:
            recorder.cancel()

    async def _dispatch(self) -> None:
        last_sweep = last_escalation = 0.0
        while True:
            try:
                if time.monotonic() - last_sweep > self.settings.heartbeat_stale_s / 2:
                    last_sweep = time.monotonic()
                    if await run_db(ledger.release_orphans, self.sessions, self.settings.heartbeat_stale_s):
                        continue
                if time.monotonic() - last_escalation > 1.0:
                    last_escalation = time.monotonic()
                    escalated = await run_db(ledger.escalate_due, self.sessions, self.settings.delivery_deadline_s,
                                             self.settings.escalate_after_s)
                    if escalated:
                        log.warning("%d unacknowledged urgent alerts escalated", len(escalated))
                        self.relay.poke()
                    if await run_db(ledger.failover_due, self.sessions):
                        log.warning("SMS alerts without delivery report: failed over to email")
                        self.relay.poke()
                free = max(0, self.slots._value)
                # A claim is a transaction (~1 ms of CPU however few rows it takes): while sends are
                # in flight, claim once enough slots are free (a send that ends wakes the loop when
                # they are); new work or the poll claims whatever is free, as soon as before.
                rows = []
                if free >= self._claim_at or (free and self._new_work):
                    self._new_work = False
                    rows = await run_db(ledger.claim_due, self.sessions, self.instance, free)
                for row in rows:
                    await self.slots.acquire()
                    task = asyncio.create_task(self._deliver_guarded(row))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if rows:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher loop failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.2)
            except TimeoutError:
                self._new_work = True  # retries come due without a poke
            self._wake.clear()

    async def _deliver_guarded(self, row: Row) -> None:
        try:
            await self.deliver(row)
        except Exception:
            log.exception("alert %s: unexpected error; it will be retried", row.id)
            await run_db(ledger.mark_retry, self.sessions, row.id, "internal error", backoff_s(row.attempts))
        finally:
            self.slots.release()
            self.relay.poke()
            if self.slots._value >= self._claim_at:  # enough room: claim the next batch now
                self._wake.set()

    async def deliver(self, row: Row) -> None:
        """`row`: a ledger row as claim_due returned it."""
        if row.channel == "sms" and row.in_doubt_since is not None and await self._settled_at_twilio(row):
            return
        result = ScreeningResult.model_validate(row.result)
        agency = Agency.model_validate(row.agency)
        text = compose(row.id, agency, result, self.settings.resolved_public_url, step=row.step)
        try:
            async with self.limiters[row.channel].slot(row.priority):
                if row.channel == "email":
                    sent = await self.email.send(row.recipients, text.subject, text.body, row.id)
                else:
                    callback = f"{self.settings.resolved_public_url}/v1/webhooks/twilio/status"
                    sent = await self.sms.send(row.recipients[0], text.sms, callback)
        except DeliveryError as exc:
            if exc.transient:
                doubt = row.claimed_at if exc.in_doubt else None  # this attempt may have arrived
                await self._retry_later(row, exc.reason, doubt)
            else:
                await run_db(ledger.mark_failed, self.sessions, row.id, exc.reason, True)
                log.error("alert %s: permanent failure %s: dead-lettered", row.id, exc.reason)
            return
        # Handed over: from here on a failure must never lead to sending again, so the
        # record is retried until the database takes it.
        await self.recorder.record(row, sent.provider_id)
        if detail := ledger.sent_detail(row):
            log.warning("alert %s sent by %s (attempt %d) after an unrecorded attempt: %s", row.id, row.channel,
                        row.attempts, detail)
        else:
            log.info("alert %s sent by %s (attempt %d)", row.id, row.channel, row.attempts)

    async def _retry_later(self, row: Row, reason: str, in_doubt_since: datetime | None = None) -> None:
        """Back to queued with backoff, or dead-lettered once past its deadline."""
        delay = backoff_s(row.attempts)
        if await run_db(ledger.mark_retry, self.sessions, row.id, reason, delay, in_doubt_since):
            log.warning("alert %s: %s, retry %d in %.1fs", row.id, reason, row.attempts, delay)
        else:
            log.error("alert %s: %s, deadline passed: dead-lettered", row.id, reason)

    async def _settled_at_twilio(self, row: Row) -> bool:
        """An SMS in doubt (an earlier attempt may have been accepted without being recorded):
        ask Twilio first. True when that settled the row: found (recorded as that message, not
        sent again) or Twilio could not be asked (queued to ask again later: neither sent twice
        nor dropped). False: Twilio has no such message, send it."""
        since = row.in_doubt_since - timedelta(seconds=self.settings.sms_lookup_margin_s)
        try:
            found = await self.sms.find_sent(row.recipients[0], row.id, since)
        except DeliveryError as exc:
            await self._retry_later(row, f"in doubt, not sent again until Twilio answers: {exc.reason}")
            return True
        if found is None:
            return False
        await run_db(ledger.mark_found, self.sessions, row.id, found.provider_id, found.status,
                     self.settings.failover_after_s)
        log.warning("alert %s: %s (%s)", row.id, ledger.FOUND_SMS, found.provider_id)
        return True

    async def close(self) -> None:
        await self.sms.close()
        await self.email.close()
