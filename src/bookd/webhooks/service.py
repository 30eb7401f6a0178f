"""Triggers and their deliveries: subscriptions, secrets, the delivery log, retries by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events.models import Event
from bookd.events.outbox import new_event_id
from bookd.kit.bulk import add_counts
from bookd.kit.db import added, page_of
from bookd.kit.errors import NotFound, ValidationFailed, found
from bookd.webhooks import counts, signing
from bookd.webhooks.guard import Guard, UnsafeURL
from bookd.webhooks.models import DELIVERY_DAYS, Delivery, DeliveryAttempt, Trigger
from bookd.webhooks.repository import ENDED, last_success_latency
from bookd.webhooks.schemas import DeliveryOut, TriggerCreate, TriggerUpdate
from bookd.workspaces.models import Workspace

# After a rotation the previous secret keeps signing this long.
ROTATION_OVERLAP = timedelta(hours=24)
TEST_EVENT = "TRIGGER_TEST"


async def _check_url(guard: Guard, url: str) -> None:
    try:
        await guard.check(url)
    except UnsafeURL as exc:
        raise ValidationFailed.on("url", "unsafe_url", str(exc)) from None


async def create_trigger(
    session: AsyncSession, workspace_id: int, data: TriggerCreate, guard: Guard, now: datetime
) -> Trigger:
    await _check_url(guard, str(data.url))
    return await added(
        session,
        Trigger(
            workspace_id=workspace_id,
            name=data.name,
            url=str(data.url),
            event_types=json.dumps(data.event_types),
            service_uids=json.dumps(data.service_uids) if data.service_uids is not None else None,
            status=data.status,
            concurrency=data.concurrency,
            secret=signing.new_secret(),
            created_at=now,
            updated_at=now,
        ),
    )


async def list_triggers(
    session: AsyncSession, workspace_id: int, *, limit: int, after_id: int | None
) -> list[Trigger]:
    query = select(Trigger).where(Trigger.workspace_id == workspace_id)
    return list(
        (await session.scalars(page_of(query, Trigger.id, limit=limit, after_id=after_id))).all()
    )


@dataclass(frozen=True)
class Health:
    """How a trigger's endpoint has been answering, from its newest deliveries."""

    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None


# A delivery that failed for good, or failed at least once and waits for its next attempt.
FAILING = or_(Delivery.status == "failed", (Delivery.status == "pending") & (Delivery.attempts > 0))


async def trigger_health(session: AsyncSession, trigger_ids: list[int]) -> dict[int, Health]:
    """Each trigger's last success (its newest delivered delivery) and last failure (its newest
    failed or retried one), by trigger id. Each is the first row of an index walked backwards."""
    health: dict[int, Health] = {}
    for trigger_id in trigger_ids:
        newest = (
            select(Delivery)
            .where(Delivery.trigger_id == trigger_id)
            .order_by(Delivery.trigger_id.desc(), Delivery.id.desc())
            .limit(1)
        )
        success = await session.scalar(newest.where(Delivery.status == "succeeded"))
        failure = await session.scalar(newest.where(FAILING))
        health[trigger_id] = Health(
            last_success_at=success.delivered_at if success else None,
            last_failure_at=failure.updated_at if failure else None,
            last_error=_answer(failure) if failure else None,
        )
    return health


async def failing_triggers(session: AsyncSession, workspace_id: int) -> list[tuple[Trigger, int]]:
    """The workspace's triggers that bookd disabled or that have failing deliveries (`FAILING`),
    in id order, each with how many deliveries are failing."""
    failing = func.count(Delivery.id)
    query = (
        select(Trigger, failing)
        .outerjoin(Delivery, (Delivery.trigger_id == Trigger.id) & FAILING)
        .where(Trigger.workspace_id == workspace_id)
        .group_by(Trigger.id)
        .having(or_(failing > 0, Trigger.status == "disabled"))
        .order_by(Trigger.id)
    )
    return [(trigger, count) for trigger, count in (await session.execute(query)).all()]


def _answer(delivery: Delivery) -> str | None:
    code = delivery.last_status_code
    return delivery.last_error or (f"HTTP {code}" if code else None)


async def get_trigger(
    session: AsyncSession, workspace_id: int, trigger_id: int, *, lock: bool = False
) -> Trigger:
    query = select(Trigger).where(Trigger.workspace_id == workspace_id, Trigger.id == trigger_id)
    trigger = await session.scalar(query.with_for_update() if lock else query)
    return found(trigger, f"trigger {trigger_id}")


async def update_trigger(
    session: AsyncSession,
    workspace_id: int,
    trigger_id: int,
    data: TriggerUpdate,
    guard: Guard,
    now: datetime,
) -> Trigger:
    trigger = await get_trigger(session, workspace_id, trigger_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    if data.url is not None:
        await _check_url(guard, str(data.url))
        if trigger.url != str(data.url):
            _close_circuit(trigger)  # another endpoint: its record starts afresh
        trigger.url = str(data.url)
    if data.name is not None:
        trigger.name = data.name
    if data.event_types is not None:
        trigger.event_types = json.dumps(list(dict.fromkeys(data.event_types)))
    if "service_uids" in changes:
        trigger.service_uids = (
            json.dumps(data.service_uids) if data.service_uids is not None else None
        )
    if data.concurrency is not None:
        trigger.concurrency = data.concurrency
    if data.status is not None:
        if data.status == "active" and trigger.status != "active":
            _close_circuit(trigger)  # switched on again by hand: tried at once
        trigger.status = data.status
        trigger.disabled_reason = None
    trigger.updated_at = now
    await session.flush()
    return trigger


def _close_circuit(trigger: Trigger) -> None:
    trigger.failures = 0
    trigger.failing_since = None
    trigger.retry_at = None


async def delete_trigger(session: AsyncSession, workspace_id: int, trigger_id: int) -> None:
    trigger = await get_trigger(session, workspace_id, trigger_id, lock=True)
    await session.delete(trigger)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, workspace_id: int, trigger_id: int, now: datetime
) -> Trigger:
    trigger = await get_trigger(session, workspace_id, trigger_id, lock=True)
    trigger.previous_secret = trigger.secret
    trigger.previous_secret_until = now + ROTATION_OVERLAP
    trigger.secret = signing.new_secret()
    trigger.updated_at = now
    await session.flush()
    return trigger


async def send_test_event(
    session: AsyncSession, workspace_id: int, trigger_id: int, now: datetime
) -> Delivery:
    """A TRIGGER_TEST event delivered to this trigger alone, to check the receiver end to end."""
    trigger = await get_trigger(session, workspace_id, trigger_id)
    event = Event(
        id=new_event_id(),
        workspace_id=workspace_id,
        type=TEST_EVENT,
        booking_id=None,
        occurred_at=now,
        data=json.dumps({"trigger": {"id": trigger.id, "name": trigger.name}, "test": True}),
        relayed=True,
    )
    session.add(event)
    await session.flush()
    return await added(
        session,
        Delivery(
            workspace_id=workspace_id,
            trigger_id=trigger.id,
            event_seq=event.seq,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        ),
    )


async def deliveries_out(
    session: AsyncSession, rows: list[tuple[Delivery, str, str]]
) -> list[DeliveryOut]:
    ids = [d.id for d, _, _ in rows]
    attempts: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        query = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(ids))
            .order_by(DeliveryAttempt.id)
        )
        for attempt in await session.scalars(query):
            attempts[attempt.delivery_id].append(attempt)
    return [
        DeliveryOut.of(d, event_id, event_type, attempts[d.id]) for d, event_id, event_type in rows
    ]


async def list_deliveries(
    session: AsyncSession,
    workspace_id: int,
    trigger_id: int,
    *,
    status: str | None,
    event_type: str | None,
    limit: int,
    after_id: int | None,
) -> list[tuple[Delivery, str, str]]:
    await get_trigger(session, workspace_id, trigger_id)
    query = (
        select(Delivery, Event.id, Event.type)
        .join(Event, Event.seq == Delivery.event_seq)
        .where(Delivery.trigger_id == trigger_id, Delivery.workspace_id == workspace_id)
    )
    if status is not None:
        query = query.where(Delivery.status == status)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    rows = (
        await session.execute(page_of(query, Delivery.id, limit=limit, after_id=after_id))
    ).all()
    return [(d, event_id, event_type) for d, event_id, event_type in rows]


async def latest_deliveries(
    session: AsyncSession, workspace_id: int, trigger_id: int, *, limit: int
) -> list[tuple[Delivery, str, str]]:
    """The trigger's newest `limit` deliveries, newest first, each with its event's id and type."""
    query = (
        select(Delivery, Event.id, Event.type)
        .join(Event, Event.seq == Delivery.event_seq)
        .where(Delivery.trigger_id == trigger_id, Delivery.workspace_id == workspace_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return [(d, event_id, event_type) for d, event_id, event_type in await session.execute(query)]


async def get_delivery(
    session: AsyncSession, workspace_id: int, delivery_id: int, *, lock: bool = False
) -> tuple[Delivery, str, str]:
    query = (
        select(Delivery, Event.id, Event.type)
        .join(Event, Event.seq == Delivery.event_seq)
        .where(Delivery.id == delivery_id, Delivery.workspace_id == workspace_id)
    )
    row = (await session.execute(query.with_for_update(of=Delivery) if lock else query)).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row[0], row[1], row[2]


async def retry_delivery(
    session: AsyncSession, workspace_id: int, delivery_id: int, now: datetime
) -> tuple[Delivery, str, str]:
    """Send again now: a delivery that failed (or succeeded) becomes pending and due, for one
    attempt; a pending one is tried now. The trigger's circuit, if open, lets it through as its
    probe."""
    delivery, event_id, event_type = await get_delivery(
        session, workspace_id, delivery_id, lock=True
    )
    delivery.final = delivery.status != "pending"
    await _uncount(session, workspace_id, [(delivery.id, delivery.status, delivery.updated_at)])
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.lease = None
    delivery.updated_at = now
    await session.execute(
        update(Trigger).where(Trigger.id == delivery.trigger_id).values(retry_at=None)
    )
    await session.flush()
    return delivery, event_id, event_type


async def _uncount(
    session: AsyncSession, workspace_id: int, deliveries: list[tuple[int, str, datetime]]
) -> None:
    """Take deliveries that ended (id, status, when) out of the analytics counters: they are
    sent once more, and counted again when that ends."""
    ended = [(i, status, at) for i, status, at in deliveries if status in ENDED]
    if not ended:
        return
    timezone = await session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    latencies = dict((await session.execute(last_success_latency([i for i, _, _ in ended]))).all())
    totals: dict[tuple[int, date, int], dict[str, int]] = {}
    for delivery_id, status, at in ended:
        day = at.astimezone(ZoneInfo(timezone or "UTC")).date()
        into = totals.setdefault((workspace_id, day, delivery_id % counts.SHARDS), {})
        for column in counts.columns_of(status, latencies.get(delivery_id, 0)):
            into[column] = into.get(column, 0) - 1
    await add_counts(session, DELIVERY_DAYS, counts.rows(totals))


async def recover(
    session: AsyncSession, workspace_id: int, trigger_id: int, since: datetime, now: datetime
) -> int:
    """After an outage: every delivery of the trigger that failed since `since` is sent once more,
    oldest first (each due at its creation time, so the claims take them in that order). A trigger
    that bookd disabled is switched on again, its circuit closed. How many were requeued."""
    trigger = await get_trigger(session, workspace_id, trigger_id, lock=True)
    if trigger.status == "disabled":
        trigger.status = "active"
        trigger.disabled_reason = None
    _close_circuit(trigger)
    trigger.updated_at = now
    failed = (
        Delivery.trigger_id == trigger.id,
        Delivery.status == "failed",
        Delivery.updated_at >= since,
    )
    requeued = await session.execute(
        select(Delivery.id, Delivery.status, Delivery.updated_at).where(*failed)
    )
    await _uncount(session, workspace_id, list(requeued))
    result = await session.execute(
        update(Delivery)
        .where(*failed)
        .values(
            status="pending",
            final=True,
            lease=None,
            next_attempt_at=Delivery.created_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
