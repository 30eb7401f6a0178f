"""The worker: two loops in one process, run as `bookd worker` or inside `bookd serve`.

- the scheduler loop: tick, commit, sleep until the next due time (at most about a second) or until
  woken by a change;
- the delivery pipeline (`webhooks.delivery.Dispatcher`): relay new events into deliveries, send
  the due deliveries trigger by trigger, record the attempts; prune old events now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bookd.config import Settings
from bookd.kit import wakeup
from bookd.kit.clock import Clock, system_now
from bookd.kit.db import Database
from bookd.scheduling import metrics, scheduler
from bookd.scheduling.heartbeats import record_heartbeat
from bookd.webhooks import relay, repository
from bookd.webhooks.delivery import Dispatcher
from bookd.webhooks.guard import Guard

log = logging.getLogger("bookd.worker")

MIN_SLEEP = 0.05
HEARTBEAT_EVERY = timedelta(seconds=5)
RELAY_BATCH = 500
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 1000


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Clock = system_now,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.dispatcher = Dispatcher(
            db,
            Guard.from_setting(settings.webhook_allow_private, settings.webhook_allow_hosts),
            clock=clock,
            timeout=timedelta(seconds=settings.webhook_timeout_seconds),
            lease=timedelta(seconds=settings.webhook_lease_seconds),
        )
        self.last_prune: datetime | None = None
        self.name = worker_name()
        self.started_at = clock()
        self.last_heartbeat: datetime | None = None
        self.processed = 0

    async def tick(
        self, now: datetime | None = None, *, heartbeat: bool = True
    ) -> scheduler.BatchResult:
        """One batch in one transaction, at `now` (the clock is read once, here). The heartbeat
        row is written by one lane only: two lanes upserting it would queue on its row lock."""
        now = now or self.clock()
        began = time.perf_counter()
        async with self.db.transaction() as session:
            result = await scheduler.run_batch(
                session,
                now,
                batch_size=self.settings.scheduler_batch_size,
                stale_window=self.settings.stale_window,
                link_base=self.settings.link_base,
            )
            self.processed += sum(result.counts.values())
            if heartbeat and (
                self.last_heartbeat is None or now - self.last_heartbeat >= HEARTBEAT_EVERY
            ):
                await self._heartbeat(session, now)
        metrics.BATCH.observe(time.perf_counter() - began)
        metrics.LAST_TICK.set(time.time())
        for kind, count in result.counts.items():
            metrics.ITEMS.labels(kind=kind).inc(count)
        for seconds in result.lateness:
            metrics.LATENESS.observe(seconds)
        return result

    async def drain(self, now: datetime | None = None) -> scheduler.BatchResult:
        """Tick until nothing due is left at `now`; the summed result (for tests and catch-up)."""
        total = scheduler.BatchResult()
        while True:
            result = await self.tick(now)
            total.claimed += result.claimed
            total.counts.update(result.counts)
            total.lateness.extend(result.lateness)
            if result.claimed == 0:
                return total

    async def _heartbeat(self, session: Any, now: datetime) -> None:
        await record_heartbeat(
            session, self.name, started_at=self.started_at, now=now, processed=self.processed
        )
        self.last_heartbeat = now

    async def _sleep_seconds(self) -> float:
        async with self.db.transaction(read_only=True) as session:
            due = await scheduler.next_due(session)
        if due is None:
            return self.settings.scheduler_max_sleep
        seconds = (due - self.clock()).total_seconds()
        return max(MIN_SLEEP, min(seconds, self.settings.scheduler_max_sleep))

    async def relay(self, now: datetime | None = None) -> int:
        """Relay every unrelayed event into deliveries; how many events."""
        now = now or self.clock()
        total = 0
        while True:
            async with self.db.transaction(plan_each=True) as session:
                count = await relay.relay_batch(session, now, limit=RELAY_BATCH)
            total += count
            if count < RELAY_BATCH:
                return total

    async def deliver(self, now: datetime | None = None) -> list[str]:
        """Relay, then send what is due at `now` once; the states the sent deliveries ended in."""
        now = now or self.clock()
        await self.relay(now)
        return await self.dispatcher.run_once(now)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete events past the retention whose deliveries are all finished (with them)."""
        now = now or self.clock()
        self.last_prune = now
        if self.settings.event_retention_days <= 0:
            return 0
        cutoff = now - timedelta(days=self.settings.event_retention_days)
        removed = 0
        while True:
            async with self.db.transaction() as session:
                pruned = await repository.prune_events(session, cutoff, limit=PRUNE_BATCH)
            removed += pruned
            if pruned < PRUNE_BATCH:
                return removed

    async def run(self, stop: asyncio.Event) -> None:
        """Both loops until `stop` is set; the batches under way then commit first."""
        try:
            await asyncio.gather(self.run_scheduler(stop), self.run_deliveries(stop))
        finally:
            await self.dispatcher.aclose()

    async def run_deliveries(self, stop: asyncio.Event) -> None:
        await self.dispatcher.run(stop, self._before_claim)

    async def _before_claim(self, now: datetime) -> None:
        if self.last_prune is None or now - self.last_prune >= PRUNE_EVERY:
            await self.prune(now)
        await self.relay(now)

    async def run_scheduler(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; the batches under way when it is set commit first.

        On PostgreSQL the scheduler runs `scheduler_concurrency` lanes, each its own loop of
        batches on its own connection: while one lane's batch waits for the database, another
        builds its own (their claims skip each other's locked bookings, as separate workers'
        do). SQLite has one writer: one lane.
        """
        lanes = 1 if self.db.sqlite else self.settings.scheduler_concurrency
        wakes = [wakeup.subscribe() for _ in range(lanes)]
        listener = await self._listen(wakes)
        log.info("scheduler %s started (%d lane%s)", self.name, lanes, "" if lanes == 1 else "s")
        try:
            await asyncio.gather(
                *(self._lane(stop, wake, heartbeat=i == 0) for i, wake in enumerate(wakes))
            )
        finally:
            for wake in wakes:
                wakeup.unsubscribe(wake)
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()
            log.info("scheduler %s stopped", self.name)

    async def _lane(self, stop: asyncio.Event, wake: asyncio.Event, *, heartbeat: bool) -> None:
        while not stop.is_set():
            # Cleared before looking, not after: a wake-up that comes while this round runs
            # cuts the following sleep short instead of being lost.
            wake.clear()
            try:
                result = await self.tick(heartbeat=heartbeat)
                if result.claimed:
                    self.dispatcher.nudge()  # its events' deliveries are due now
                if result.claimed >= self.settings.scheduler_batch_size:
                    continue  # more is waiting
                delay = await self._sleep_seconds()
            except Exception:
                log.exception("scheduler tick failed; retrying")
                delay = 1.0
            await _first_of(stop, wake, seconds=delay)

    async def _listen(self, wakes: list[asyncio.Event]) -> Any:
        if self.db.sqlite:
            return None
        try:
            connection = await asyncpg.connect(self.db.driver_url)
            await connection.add_listener(wakeup.CHANNEL, wakeup.listener_callback(*wakes))
        except (OSError, asyncpg.PostgresError):
            log.warning(
                "LISTEN failed; the scheduler polls every %.1f s", self.settings.scheduler_max_sleep
            )
            return None
        return connection


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, *, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
