"""API shapes of triggers, deliveries and attempts."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, field_validator

from bookd.catalog.schemas import ServiceUid
from bookd.events.types import EventType
from bookd.kit.schemas import Input, Output, QueryTime, UTCTime
from bookd.webhooks.models import Delivery, DeliveryAttempt, Trigger

ALL = "*"
TriggerName = Annotated[str, Field(min_length=1, max_length=100)]
WebhookURL = Annotated[HttpUrl, Field(max_length=2000)]
EventTypes = Annotated[
    list[EventType | Literal["*"]], Field(min_length=1, max_length=len(EventType) + 1)
]
ServiceUids = Annotated[list[ServiceUid], Field(max_length=20)]
TriggerStatus = Literal["active", "paused"]
Concurrency = Annotated[int, Field(strict=True, ge=1, le=64)]


def _unique_types(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


class TriggerCreate(Input):
    name: TriggerName
    url: WebhookURL
    event_types: EventTypes = Field(default_factory=lambda: [ALL])  # type: ignore[arg-type]
    service_uids: ServiceUids | None = None
    status: TriggerStatus = "active"
    concurrency: Concurrency = 8
    """Attempts to this endpoint in flight at once, per worker process."""

    _dedupe = field_validator("event_types")(_unique_types)


class TriggerUpdate(Input):
    name: TriggerName | None = None
    url: WebhookURL | None = None
    event_types: EventTypes | None = None
    service_uids: ServiceUids | None = None
    status: TriggerStatus | None = None
    concurrency: Concurrency | None = None


class TriggerRecover(Input):
    since: QueryTime
    """Every delivery of the trigger that failed at or after this time is sent once more."""


class Recovered(Output):
    requeued: int
    """How many failed deliveries were made pending again."""


class TriggerOut(Output):
    id: int
    name: str
    url: str
    event_types: list[str]
    service_uids: list[str] | None
    status: str
    """active, paused, or disabled (by bookd: after a 410 Gone answer, or after failing for five
    days)."""
    disabled_reason: str | None
    concurrency: int
    failures: int
    """Failed attempts in a row; from 5 on, the circuit is open."""
    failing_since: UTCTime | None
    retry_at: UTCTime | None
    """While the circuit is open: when the endpoint is next tried (its deliveries wait till then)."""
    previous_secret_until: UTCTime | None
    created_at: UTCTime
    updated_at: UTCTime

    @classmethod
    def of(cls, trigger: Trigger) -> TriggerOut:
        return cls(
            id=trigger.id,
            name=trigger.name,
            url=trigger.url,
            event_types=json.loads(trigger.event_types),
            service_uids=json.loads(trigger.service_uids) if trigger.service_uids else None,
            status=trigger.status,
            disabled_reason=trigger.disabled_reason,
            concurrency=trigger.concurrency,
            failures=trigger.failures,
            failing_since=trigger.failing_since,
            retry_at=trigger.retry_at,
            previous_secret_until=trigger.previous_secret_until,
            created_at=trigger.created_at,
            updated_at=trigger.updated_at,
        )


class TriggerWithSecret(TriggerOut):
    secret: str
    """Shown when the trigger is created and when its secret is rotated; keep it."""


class AttemptOut(Output):
    id: int
    attempted_at: UTCTime
    status_code: int | None
    latency_ms: int
    succeeded: bool
    response: str | None


class DeliveryOut(Output):
    id: int
    trigger_id: int
    event_id: str
    event_type: str
    status: str
    """pending, succeeded or failed."""
    attempts: int
    next_attempt_at: UTCTime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: UTCTime | None
    created_at: UTCTime
    attempt_log: list[AttemptOut]

    @classmethod
    def of(
        cls, delivery: Delivery, event_id: str, event_type: str, attempts: list[DeliveryAttempt]
    ) -> DeliveryOut:
        return cls(
            id=delivery.id,
            trigger_id=delivery.trigger_id,
            event_id=event_id,
            event_type=event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            attempt_log=[AttemptOut.model_validate(a) for a in attempts],
        )
