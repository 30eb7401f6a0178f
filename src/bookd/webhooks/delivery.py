"""Delivering: claim due deliveries with a lease, trigger by trigger, POST them signed, record every
attempt.

A pipeline without a batch barrier. Each trigger has a lane: at most `concurrency` attempts in
flight and as many more claimed and waiting behind them. An attempt that ends starts the next of
its lane at once, and a lane that has room asks for a new claim; a slow or failing endpoint fills
only its own lane. Claims take every trigger's due deliveries in turn (oldest first within each),
so one trigger's backlog of a hundred thousand never stands before another's single event.
Attempts are recorded in batches by one task: one statement per table for all that ended since
the last batch.

No transaction is held open while a request is in flight. A claim sets `lease` and pushes
`next_attempt_at` to the lease's end; the attempt is recorded later, and the delivery's state only
if the lease is still this worker's. A worker that dies mid-flight leaves leases that run out, and
another worker claims those deliveries again (at least once; the `webhook-id` lets receivers drop
the repeat). A claimed delivery waits behind at most one round of its lane's attempts, so a lease
of twice the attempt deadline covers it.

The circuit breaker: CIRCUIT_AFTER failed attempts in a row to one trigger open its circuit, and
its deliveries wait, untried, until `retry_at`; then one attempt probes the endpoint. A success
closes the circuit; a failure opens it again for longer (the delivery backoff's steps). A trigger
failing for DISABLE_AFTER is disabled, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from bookd.events.schemas import envelope
from bookd.kit.clock import Clock, iso_z, system_now
from bookd.kit.db import Database
from bookd.webhooks import client, repository, signing
from bookd.webhooks.guard import Guard
from bookd.webhooks.repository import Due, Endpoint, Result

log = logging.getLogger("bookd.webhooks")

# Waits after the 1st, 2nd, ... failed attempt; the delivery fails after the last one (10 attempts
# over about three days: well past the promised 24 hours).
BACKOFF = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
SLOW_DOWN = {429, 502, 503, 504}
# Failed attempts in a row that open a trigger's circuit, and how long it may keep failing before
# it is disabled.
CIRCUIT_AFTER = 5
DISABLE_AFTER = timedelta(days=5)
CIRCUIT_FIRST_WAIT = timedelta(seconds=5)
CIRCUIT_LONGEST_WAIT = timedelta(days=1)
# How often an idle pipeline looks for due deliveries (a new event wakes it sooner).
POLL = 0.25
ERROR_PAUSE = 1.0
# Tries of one batch of attempt records before it is left to the leases.
RECORD_TRIES = 3
# How long the pipeline claims with the triggers it read (a change of URL, secret or status, made
# anywhere, takes effect within this long; this process's own circuit verdicts at once).
ENDPOINTS_FRESH = 0.5


def backoff(
    failed_attempts: int, *, retry_after: timedelta | None = None, jitter: float = 0.1
) -> timedelta | None:
    """The wait before the next attempt after `failed_attempts` failures, or None: give up."""
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    base = BACKOFF[failed_attempts - 1]
    wait = base * (1 + random.uniform(-jitter, jitter))
    if retry_after is not None:
        wait = max(wait, min(retry_after, BACKOFF[-1]))
    return wait


def circuit_wait(failing_for: timedelta) -> timedelta:
    """How long an open circuit waits before its probe: as long as the endpoint has been failing,
    from 5 seconds up to a day, so that the waits double while it stays down."""
    return min(max(failing_for, CIRCUIT_FIRST_WAIT), CIRCUIT_LONGEST_WAIT)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when - now, timedelta(0)) if when.tzinfo else None


@dataclass(frozen=True)
class Claimed:
    due: Due
    lease: str
    url: str
    keys: list[str]
    body: str


def outcome(item: Claimed, answer: client.Answer, now: datetime) -> Result:
    """What an attempt's answer makes of its delivery."""
    attempts = item.due.attempts + 1
    next_attempt_at = None
    error = None if answer.succeeded else (answer.response or "")[:500]
    if answer.succeeded:
        status = "succeeded"
    elif answer.abort:
        status = "failed"
        error = f"the receiver asked for no retries ({client.ABORT_HEADER}: {client.ABORT_VALUE})"
    elif answer.status_code == 410 or item.due.final:
        status = "failed"
    else:
        retry_after = None
        if answer.status_code in SLOW_DOWN:
            retry_after = parse_retry_after(answer.retry_after, now)
        wait = backoff(attempts, retry_after=retry_after)
        status = "failed" if wait is None else "pending"
        next_attempt_at = None if wait is None else now + wait
    return Result(
        delivery_id=item.due.delivery_id,
        lease=item.lease,
        attempted_at=now,
        status_code=answer.status_code,
        latency_ms=answer.latency_ms,
        succeeded=answer.succeeded,
        response=answer.response,
        status=status,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_error=error,
        endpoint_failed=not answer.succeeded and not answer.abort,
    )


def signing_keys(endpoint: Endpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > now
    ):
        keys.append(endpoint.previous_secret)
    return keys


@dataclass
class Lane:
    """One trigger's attempts in this process: those in flight and those claimed behind them."""

    concurrency: int
    in_flight: int = 0
    queued: deque[Claimed] = field(default_factory=deque)
    # How many the current claim asked for, and whether it got them all: then more is probably
    # due, and a freed slot asks for another claim.
    asked: int = 0
    more: bool = False
    # The trigger has failed attempts counted against it: a success must reset the count.
    failures_known: bool = False
    # Attempts ended but not yet recorded: their leases are still held.
    unrecorded: int = 0

    @property
    def held(self) -> int:
        """The deliveries this lane holds leased: a stalled recorder stops its claims too."""
        return self.in_flight + len(self.queued) + self.unrecorded


class Dispatcher:
    """Sends the due deliveries of every trigger; `run` until stopped, or `run_once` (tests)."""

    def __init__(
        self,
        db: Database,
        guard: Guard,
        *,
        clock: Clock = system_now,
        timeout: timedelta = timedelta(seconds=10),
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.guard = guard
        self.clock = clock
        self.timeout = timeout
        self.lease = lease
        self.lanes: dict[int, Lane] = {}
        self._http: tuple[aiohttp.ClientSession, client.GuardedResolver] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended: list[tuple[Claimed, Result]] = []
        self._wake: asyncio.Event | None = None
        self._flush: asyncio.Event | None = None
        self._fresh = True
        self._endpoints: tuple[float, dict[int, Endpoint]] = (-math.inf, {})

    # --- the pieces ----------------------------------------------------------------------------

    def http(self) -> tuple[aiohttp.ClientSession, client.GuardedResolver]:
        """The client session, made on first use, in the event loop that uses it."""
        if self._http is None:
            self._http = client.new_session(self.guard)
        return self._http

    async def claim(
        self, now: datetime, room: Callable[[Endpoint], int], *, cached: bool = False
    ) -> list[Claimed]:
        """Lease up to `room(endpoint)` due deliveries of every endpoint that may be sent to.
        With `cached`, the endpoints read at most ENDPOINTS_FRESH ago serve again: the pipeline
        claims many times a second, and reading the triggers each time would double its reads."""
        lease = secrets.token_hex(8)
        async with self.db.statements() as conn:
            read_at, known = self._endpoints
            if not cached or time.monotonic() - read_at > ENDPOINTS_FRESH:
                known = {e.id: e for e in await repository.endpoints(conn, now)}
                self._endpoints = (time.monotonic(), known)
            endpoints = known
            wants = {e.id: room(e) for e in endpoints.values()}
            due = await repository.claim(conn, wants, now, now + self.lease, lease)
        due.sort(key=lambda d: d.delivery_id)  # oldest first within each trigger's share
        keys = {e.id: signing_keys(e, now) for e in endpoints.values()}
        return [
            Claimed(
                due=d,
                lease=lease,
                url=endpoints[d.trigger_id].url,
                keys=keys[d.trigger_id],
                body=envelope(
                    id=d.event_id,
                    type=d.event_type,
                    occurred_at=d.occurred_at,
                    workspace_id=d.workspace_id,
                    data=d.data,
                ),
            )
            for d in due
        ]

    async def attempt(self, item: Claimed, now: datetime) -> Result:
        session, resolver = self.http()
        headers = signing.headers(
            message_id=item.due.event_id, timestamp=now, body=item.body, keys=item.keys
        )
        answer = await client.post(
            session, resolver, item.url, item.body.encode(), headers, deadline=self.timeout
        )
        return outcome(item, answer, now)

    async def record(self, ended: list[tuple[Claimed, Result]], now: datetime) -> None:
        """Store a batch of attempts, the deliveries' states, the counters of those that ended and
        what the attempts tell of their endpoints, in one transaction: all or nothing, so that a
        retry of a batch that failed half way stores each attempt once and counts it once. (A
        lane's waiting claims handed back by a verdict that is rolled back are left to their
        leases.)"""
        by_trigger: dict[int, list[Result]] = {}
        for item, result in ended:
            by_trigger.setdefault(item.due.trigger_id, []).append(result)
        async with self.db.transaction(plan_each=True) as session:
            conn = await session.connection()
            await repository.record(conn, [result for _, result in ended], now)
            await repository.count_ended(conn, [result for _, result in ended], now)
            for trigger_id, results in by_trigger.items():
                await self._judge(conn, trigger_id, results, now)

    async def _judge(
        self, conn: AsyncConnection, trigger_id: int, results: list[Result], now: datetime
    ) -> None:
        """The circuit breaker's and the 410 rule's verdict on one trigger's newest attempts."""
        if any(r.status_code == 410 for r in results):
            await repository.disable(conn, trigger_id, "the endpoint answered 410 Gone", now)
            await self._hand_back(conn, trigger_id, now)
            self._endpoints = (-math.inf, {})
            return
        last_success = max((i for i, r in enumerate(results) if r.succeeded), default=-1)
        streak = sum(1 for r in results[last_success + 1 :] if r.endpoint_failed)
        reset = last_success >= 0
        lane = self.lanes.get(trigger_id)
        if streak == 0 and not (reset and (lane is None or lane.failures_known)):
            return
        counts = await repository.count_failures(
            conn, trigger_id, streak=streak, reset=reset, now=now
        )
        if lane is not None:
            lane.failures_known = counts is not None and counts[0] > 0
        if counts is None or counts[2] != "active" or counts[0] < CIRCUIT_AFTER:
            return
        _failures, since, _status = counts
        last = results[-1]
        answer = f"HTTP {last.status_code}" if last.status_code else (last.last_error or "none")
        if since is not None and now - since >= DISABLE_AFTER:
            reason = f"failing since {iso_z(since)}; last answer: {answer}"
            await repository.disable(conn, trigger_id, reason, now)
            await self._hand_back(conn, trigger_id, now)
            self._endpoints = (-math.inf, {})
            return
        retry_at = now + circuit_wait(now - (since or now))
        await repository.open_circuit(conn, trigger_id, retry_at)
        self._endpoints = (-math.inf, {})
        await self._hand_back(conn, trigger_id, retry_at)

    async def _hand_back(self, conn: AsyncConnection, trigger_id: int, at: datetime) -> None:
        """Return a lane's waiting claims unattempted (its endpoint is not to be tried now)."""
        lane = self.lanes.get(trigger_id)
        if lane is None or not lane.queued:
            return
        waiting = [(c.due.delivery_id, c.lease) for c in lane.queued]
        lane.queued.clear()
        await repository.release(conn, waiting, at)

    # --- once, for tests and catch-up ----------------------------------------------------------

    async def run_once(self, now: datetime) -> list[str]:
        """Claim what is due at `now` (up to twice each trigger's concurrency), send it with each
        trigger's concurrency, record it; the states the deliveries ended in."""
        widths: dict[int, int] = {}

        def room(endpoint: Endpoint) -> int:
            widths[endpoint.id] = _width(endpoint)
            return self._depth(endpoint)

        claimed = await self.claim(now, room)
        if not claimed:
            return []
        gates = {trigger_id: asyncio.Semaphore(width) for trigger_id, width in widths.items()}

        async def one(item: Claimed) -> Result:
            async with gates[item.due.trigger_id]:
                return await self.attempt(item, now)

        results = await asyncio.gather(*(one(item) for item in claimed))
        await self.store(list(zip(claimed, results, strict=True)), lambda: now)
        return [result.status for result in results]

    # --- the pipeline --------------------------------------------------------------------------

    def nudge(self) -> None:
        """New deliveries may be due: claim now rather than at the next poll."""
        self._fresh = True
        if self._wake is not None:
            self._wake.set()

    async def run(
        self, stop: asyncio.Event, before_claim: Callable[[datetime], Awaitable[object]]
    ) -> None:
        """Claim, send and record until `stop` is set; `before_claim` runs before each claim that
        follows a nudge or a poll (it relays new events into deliveries). On stop, the waiting
        claims are handed back, the attempts in flight end and everything is recorded."""
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        recorder = asyncio.create_task(self._recorder(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    now = self.clock()
                    if self._fresh:
                        self._fresh = False
                        await before_claim(now)
                    for item in await self.claim(now, self._room, cached=True):
                        self._queue(item)
                    self._forget_idle()
                except Exception:
                    log.exception("claiming deliveries failed; retrying")
                    await _first_of(stop, None, seconds=ERROR_PAUSE)
                    continue
                woken = await _first_of(stop, self._wake, seconds=POLL)
                if not woken:
                    self._fresh = True  # a poll: look for new events too
        finally:
            await self._wind_down(recorder)

    def _depth(self, endpoint: Endpoint) -> int:
        """How many of a trigger's deliveries a worker holds: its attempts in flight and whole
        rounds of them waiting behind (as many as the lease covers: fewer claims, each larger);
        only the probe while its circuit is open."""
        if endpoint.failures >= CIRCUIT_AFTER:
            return 1
        return rounds(self.lease, self.timeout) * endpoint.concurrency

    def _room(self, endpoint: Endpoint) -> int:
        lane = self.lanes.get(endpoint.id)
        if lane is None:
            lane = self.lanes[endpoint.id] = Lane(endpoint.concurrency)
        lane.concurrency = _width(endpoint)
        lane.failures_known = endpoint.failures > 0
        want = self._depth(endpoint) - lane.held
        lane.more = False
        lane.asked = want
        return max(want, 0)

    def _queue(self, item: Claimed) -> None:
        lane = self.lanes[item.due.trigger_id]
        lane.queued.append(item)
        lane.asked -= 1
        if lane.asked <= 0:
            lane.more = True
        self._start(lane)

    def _start(self, lane: Lane) -> None:
        while lane.queued and lane.in_flight < lane.concurrency:
            item = lane.queued.popleft()
            lane.in_flight += 1
            task = asyncio.create_task(self._send(lane, item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, lane: Lane, item: Claimed) -> None:
        try:
            result = await self.attempt(item, self.clock())
            self._ended.append((item, result))
            lane.unrecorded += 1
            assert self._flush is not None
            self._flush.set()
        finally:
            lane.in_flight -= 1
            self._start(lane)
            self._refill(lane)

    def _refill(self, lane: Lane) -> None:
        """Ask for a claim when a lane whose last claim was full is down to its last round."""
        if lane.more and lane.held <= lane.concurrency and self._wake is not None:
            self._wake.set()

    async def _recorder(self, stop: asyncio.Event) -> None:
        assert self._flush is not None
        while True:
            await self._flush.wait()
            self._flush.clear()
            ended, self._ended = self._ended, []
            if ended:
                await self.store(ended, self.clock)
                self._recorded(ended)
            if stop.is_set() and not self._tasks and not self._ended:
                return

    async def store(
        self, ended: list[tuple[Claimed, Result]], clock: Callable[[], datetime]
    ) -> bool:
        """`record` a batch, trying again up to RECORD_TRIES times (at the clock's time of each
        try); whether it was stored. A batch given up on is left to its leases: the deliveries are
        tried again (at least once), rather than every later attempt waiting behind this batch."""
        for tries in range(1, RECORD_TRIES + 1):
            try:
                await self.record(ended, clock())
                return True
            except Exception:
                if tries == RECORD_TRIES:
                    log.exception(
                        "recording %d deliveries failed; left to their leases", len(ended)
                    )
                    return False
                log.exception("recording deliveries failed; retrying")
                await asyncio.sleep(ERROR_PAUSE)
        return False

    def _recorded(self, ended: list[tuple[Claimed, Result]]) -> None:
        for item, _ in ended:
            lane = self.lanes.get(item.due.trigger_id)
            if lane is not None:
                lane.unrecorded -= 1
                self._refill(lane)

    def _forget_idle(self) -> None:
        for trigger_id in [t for t, lane in self.lanes.items() if lane.held == 0]:
            if not self.lanes[trigger_id].failures_known:
                del self.lanes[trigger_id]

    async def _wind_down(self, recorder: asyncio.Task[None]) -> None:
        waiting = [
            (c.due.delivery_id, c.lease) for lane in self.lanes.values() for c in lane.queued
        ]
        for lane in self.lanes.values():
            lane.queued.clear()
        if waiting:
            with contextlib.suppress(Exception):
                async with self.db.statements() as conn:
                    await repository.release(conn, waiting, self.clock())
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        assert self._flush is not None
        self._flush.set()
        try:
            await asyncio.wait_for(recorder, self.timeout.total_seconds() * 2)
        except TimeoutError:
            log.warning("the last attempts could not be recorded; their leases will run out")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http[0].close()
            self._http = None


def _width(endpoint: Endpoint) -> int:
    """How many attempts a trigger may have in flight: one probe while its circuit is open."""
    return 1 if endpoint.failures >= CIRCUIT_AFTER else endpoint.concurrency


def rounds(lease: timedelta, timeout: timedelta) -> int:
    """How many rounds of a lane's attempts a worker may hold leased: a delivery claimed last
    waits for the rounds ahead of it, then takes its own, all within its lease (at least 2: the
    lease is at least twice the timeout)."""
    return max(2, int(lease / timeout) - 1)


async def _first_of(stop: asyncio.Event, wake: asyncio.Event | None, *, seconds: float) -> bool:
    """Wait for `stop` or `wake` at most `seconds`; whether either came."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
