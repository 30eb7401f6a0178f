"""Delivering: claim due deliveries with a lease, POST them signed, record every attempt.

No transaction is held open while a request is in flight. Claiming sets `lease` and pushes
`next_attempt_at` to the lease's end in one short transaction; the attempt is recorded in another,
and only if the lease is still ours. A sender that dies mid-flight leaves a lease that runs out, and
another sender claims the delivery again (at least once; the `webhook-id` lets receivers drop the
repeat).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from bookd.events.models import Event
from bookd.events.schemas import EventOut
from bookd.kit.db import Database
from bookd.webhooks import signing
from bookd.webhooks.guard import Guard, UnsafeURL, guarded_transport
from bookd.webhooks.models import Delivery, DeliveryAttempt, Trigger
from bookd.webhooks.service import signing_keys

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
TIMEOUT = 15.0
EXCERPT = 2048
SLOW_DOWN = {429, 502, 503, 504}


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    lease: str
    attempts: int
    trigger_id: int
    url: str
    keys: list[str]
    message_id: str
    body: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    response: str | None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


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


class Sender:
    def __init__(
        self,
        db: Database,
        guard: Guard,
        *,
        client: httpx.AsyncClient | None = None,
        concurrency: int = 32,
        per_trigger: int = 4,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.guard = guard
        self.client = client or httpx.AsyncClient(
            transport=guarded_transport(guard), timeout=TIMEOUT, follow_redirects=False
        )
        self.concurrency = concurrency
        self.per_trigger = per_trigger
        self.lease = lease
        self._overall = asyncio.Semaphore(concurrency)
        self._triggers: dict[int, asyncio.Semaphore] = {}

    async def claim(self, now: datetime, limit: int) -> list[Claimed]:
        lease = secrets.token_hex(8)
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(Delivery, Trigger, Event)
                    .join(Trigger, Trigger.id == Delivery.trigger_id)
                    .join(Event, Event.seq == Delivery.event_seq)
                    .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                    .order_by(Delivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(of=Delivery, skip_locked=True)
                )
            ).all()
            claimed = []
            for delivery, trigger, event in rows:
                if trigger.status != "active":
                    # Paused or disabled meanwhile: kept pending, looked at again later.
                    delivery.next_attempt_at = now + self.lease
                    continue
                delivery.lease = lease
                delivery.next_attempt_at = now + self.lease
                claimed.append(
                    Claimed(
                        delivery_id=delivery.id,
                        lease=lease,
                        attempts=delivery.attempts,
                        trigger_id=trigger.id,
                        url=trigger.url,
                        keys=signing_keys(trigger, now),
                        message_id=event.id,
                        body=EventOut.of(event).model_dump_json(),
                    )
                )
        return claimed

    async def attempt(self, item: Claimed, now: datetime) -> Outcome:
        began = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - began) * 1000)

        headers = signing.headers(
            message_id=item.message_id, timestamp=now, body=item.body, keys=item.keys
        )
        try:
            self.guard.split(item.url)
            # The address is checked again as the connection opens (`guarded_transport`).
            response = await self.client.post(item.url, content=item.body.encode(), headers=headers)
        except UnsafeURL as exc:
            return Outcome(None, elapsed(), f"refused: {exc}")
        except httpx.HTTPError as exc:
            return Outcome(None, elapsed(), f"{type(exc).__name__}: {exc}"[:EXCERPT])
        retry_after = None
        if response.status_code in SLOW_DOWN:
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        return Outcome(response.status_code, elapsed(), response.text[:EXCERPT], retry_after)

    async def record(self, item: Claimed, outcome: Outcome, now: datetime) -> str:
        """Store the attempt and the delivery's next state; returns that state."""
        failed = item.attempts + 1
        if outcome.succeeded:
            values: dict[str, object] = {"status": "succeeded", "delivered_at": now}
        elif outcome.status_code == 410:
            values = {"status": "failed"}
        else:
            wait = backoff(failed, retry_after=outcome.retry_after)
            values = (
                {"status": "failed"}
                if wait is None
                else {"status": "pending", "next_attempt_at": now + wait}
            )
        values.update(
            attempts=failed,
            lease=None,
            last_status_code=outcome.status_code,
            last_error=None if outcome.succeeded else (outcome.response or "")[:500],
            updated_at=now,
        )
        async with self.db.transaction() as session:
            session.add(
                DeliveryAttempt(
                    delivery_id=item.delivery_id,
                    attempted_at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    succeeded=outcome.succeeded,
                    response=outcome.response,
                )
            )
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.delivery_id, Delivery.lease == item.lease)
                .values(**values)
            )
            if outcome.status_code == 410:
                await session.execute(
                    update(Trigger)
                    .where(Trigger.id == item.trigger_id)
                    .values(
                        status="disabled",
                        disabled_reason="the endpoint answered 410 Gone",
                        updated_at=now,
                    )
                )
        return str(values["status"])

    async def _one(self, item: Claimed, clock_now: datetime) -> str:
        gate = self._triggers.setdefault(item.trigger_id, asyncio.Semaphore(self.per_trigger))
        async with self._overall, gate:
            outcome = await self.attempt(item, clock_now)
        return await self.record(item, outcome, clock_now)

    async def run_once(self, now: datetime, *, limit: int | None = None) -> list[str]:
        """Claim what is due at `now`, send it concurrently, record each; the resulting states."""
        claimed = await self.claim(now, limit or self.concurrency * 2)
        if not claimed:
            return []
        return list(await asyncio.gather(*(self._one(item, now) for item in claimed)))

    async def aclose(self) -> None:
        await self.client.aclose()
