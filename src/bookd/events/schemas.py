"""The event envelope, as the API lists it and as webhooks will carry it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

from bookd.events.models import Event
from bookd.kit.clock import iso_z
from bookd.kit.schemas import Output, UTCTime


class EventOut(Output):
    id: str
    type: str
    occurred_at: UTCTime
    workspace_id: int
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            workspace_id=event.workspace_id,
            data=json.loads(event.data),
        )


def envelope(*, id: str, type: str, occurred_at: datetime, workspace_id: int, data: str) -> str:
    """The event as a webhook carries it: `EventOut.of(event).model_dump_json()`, written around
    the stored payload text (`data`, JSON as the outbox wrote it) instead of parsing it into a
    model and writing it out again for every delivery."""
    return '{"id":%s,"type":%s,"occurred_at":"%s","workspace_id":%d,"data":%s}' % (  # noqa: UP031 (the fastest of the spellings)
        orjson.dumps(id).decode(),
        orjson.dumps(type).decode(),
        iso_z(occurred_at),
        workspace_id,
        data,
    )
