"""Triggers and their deliveries: subscriptions, secrets, the delivery log, retries by hand."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events.models import Event
from bookd.events.outbox import new_event_id
from bookd.kit.errors import NotFound, ValidationFailed
from bookd.webhooks import signing
from bookd.webhooks.guard import Guard, UnsafeURL
from bookd.webhooks.models import Delivery, DeliveryAttempt, Trigger
from bookd.webhooks.schemas import DeliveryOut, TriggerCreate, TriggerUpdate

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
    trigger = Trigger(
        workspace_id=workspace_id,
        name=data.name,
        url=str(data.url),
        event_types=json.dumps(data.event_types),
        service_uids=json.dumps(data.service_uids) if data.service_uids is not None else None,
        status=data.status,
        secret=signing.new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(trigger)
    await session.flush()
    return trigger


async def list_triggers(
    session: AsyncSession, workspace_id: int, *, limit: int, after_id: int | None
) -> list[Trigger]:
    query = select(Trigger).where(Trigger.workspace_id == workspace_id)
    if after_id is not None:
        query = query.where(Trigger.id > after_id)
    return list((await session.scalars(query.order_by(Trigger.id).limit(limit))).all())


async def get_trigger(
    session: AsyncSession, workspace_id: int, trigger_id: int, *, lock: bool = False
) -> Trigger:
    query = select(Trigger).where(Trigger.workspace_id == workspace_id, Trigger.id == trigger_id)
    trigger = await session.scalar(query.with_for_update() if lock else query)
    if trigger is None:
        raise NotFound(f"no trigger {trigger_id}")
    return trigger


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
        trigger.url = str(data.url)
    if data.name is not None:
        trigger.name = data.name
    if data.event_types is not None:
        trigger.event_types = json.dumps(list(dict.fromkeys(data.event_types)))
    if "service_uids" in changes:
        trigger.service_uids = (
            json.dumps(data.service_uids) if data.service_uids is not None else None
        )
    if data.status is not None:
        trigger.status = data.status
        trigger.disabled_reason = None
    trigger.updated_at = now
    await session.flush()
    return trigger


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


def signing_keys(trigger: Trigger, now: datetime) -> list[str]:
    keys = [trigger.secret]
    if (
        trigger.previous_secret
        and trigger.previous_secret_until
        and trigger.previous_secret_until > now
    ):
        keys.append(trigger.previous_secret)
    return keys


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
    delivery = Delivery(
        workspace_id=workspace_id,
        trigger_id=trigger.id,
        event_seq=event.seq,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


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
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    rows = (await session.execute(query.order_by(Delivery.id).limit(limit))).all()
    return [(d, event_id, event_type) for d, event_id, event_type in rows]


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
    """Send again now, once more: a delivery that failed (or succeeded) becomes pending and due."""
    delivery, event_id, event_type = await get_delivery(
        session, workspace_id, delivery_id, lock=True
    )
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.lease = None
    delivery.updated_at = now
    await session.flush()
    return delivery, event_id, event_type
