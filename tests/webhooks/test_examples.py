"""docs/event-examples.md: one real event of every type, as a receiver got it.

`make docs-examples` (BOOKD_WRITE_EXAMPLES=1) writes the file from a run of the system; otherwise
this test checks that the committed file still lists every type with the keys bookd now sends, so
the examples cannot silently go stale.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bookd.events.types import EventType
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Received, Receiver
from tests.webhooks.support import Hooks, deliver_all, produce_every_event, verify

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "event-examples.md"
WRITE = os.environ.get("BOOKD_WRITE_EXAMPLES") == "1"

WHEN = {
    EventType.BOOKING_CREATED: "A booking was created.",
    EventType.BOOKING_CONFIRMED: "A pending booking was confirmed.",
    EventType.REMINDER_SENDING: "A reminder fell due: send it now. `data.reminder` holds its "
    "rendered title and description.",
    EventType.MEETING_STARTED: "The booking's start time was reached (pending or confirmed → "
    "in_progress).",
    EventType.MEETING_ENDED: "The booking's end time was reached; a `BOOKING_COMPLETED` follows.",
    EventType.BOOKING_COMPLETED: "The booking was completed, by hand or at its end time.",
    EventType.BOOKING_NO_SHOW: "The booking was marked a no-show.",
    EventType.FOLLOWUP_SENDING: "A follow-up fell due: send it now. `data.followup` holds its "
    "rendered title and description.",
    EventType.UPDATE_RATING: "The booking was rated; `data.rating` holds the old and the new value.",
    EventType.BOOKING_RESCHEDULED: "The booking moved; `data.reschedule` holds the old and the new "
    "times and the reason.",
    EventType.BOOKING_CANCELLED: "The booking was cancelled.",
    EventType.BOOKING_UPDATED: "Location, source, metadata or notes changed; `data.changes` holds "
    "each changed field's old and new value.",
    EventType.BOOKING_DELETED: "The booking was deleted; `data.booking` is the booking as it was.",
    EventType.BOOKING_INACTIVE: "Something fell due while the booking's service was inactive.",
}

SECTION = re.compile(r"^## (\w+)\n.*?^```json\n(.*?)^```", re.MULTILINE | re.DOTALL)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of a JSON document, as dotted paths (`[]` for list items)."""
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path, *key_paths(item, path)}
        return paths
    if isinstance(value, list):
        return set().union(*(key_paths(item, prefix + "[]") for item in value))
    return set()


def render(examples: dict[str, Received]) -> str:
    first = examples[EventType.BOOKING_CREATED].headers
    headers = "\n".join(
        f"{name}: {first[name]}"
        for name in ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature")
    )
    parts = [
        "# Event examples",
        "",
        "One real event of every type, as a webhook receiver got it: produced by bookd's API and"
        " scheduler and delivered to a test receiver by `tests/webhooks/test_examples.py`"
        " (regenerate with `make docs-examples`; the test suite checks that every type is here"
        " with the keys bookd sends). How to verify and handle them: [webhooks.md](webhooks.md).",
        "",
        "Every event is `{id, type, occurred_at, workspace_id, data}`; `data` holds `booking` (as"
        " the API returns it), `service` and `bot_user`, plus what the type adds; a change of a"
        " booking names its `actor` as the booking's log does. The request's headers (here those"
        " of the `BOOKING_CREATED` below):",
        "",
        "```http",
        "POST /bookd-hook",
        headers,
        "```",
    ]
    for event_type in EventType:
        body = json.dumps(json.loads(examples[event_type].body), indent=2, ensure_ascii=False)
        parts += ["", f"## {event_type.value}", "", WHEN[event_type], "", "```json", body, "```"]
    return "\n".join(parts) + "\n"


def committed() -> dict[str, Any]:
    return {kind: json.loads(body) for kind, body in SECTION.findall(EXAMPLES.read_text())}


def test_the_documented_examples_are_what_bookd_sends(
    api: Api,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    hooks: Hooks,
    receiver: Receiver,
    backend: str,
) -> None:
    secret = hooks.add("all")["secret"]
    scenario = produce_every_event(api, client, worker, clock)
    deliver_all(client, worker, scenario.end)
    order = {e["id"]: n for n, e in enumerate(factories.events(api))}
    examples: dict[str, Received] = {}
    for request in sorted(receiver.at("all"), key=lambda r: order[verify(secret, r)["id"]]):
        examples.setdefault(json.loads(request.body)["type"], request)
    assert set(examples) == set(EventType)

    if WRITE and backend == "sqlite":
        EXAMPLES.write_text(render(examples))
    documented = committed()
    assert list(documented) == [t.value for t in EventType], "a type is missing or out of order"
    for event_type in EventType:
        sent = json.loads(examples[event_type].body)
        assert key_paths(documented[event_type]) == key_paths(sent), (
            f"{event_type}: docs/event-examples.md is stale; run `make docs-examples`"
        )
