"""The event envelope, as the API lists it and as webhooks will carry it."""

from __future__ import annotations

import json
from typing import Any

from bookd.events.models import Event
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
