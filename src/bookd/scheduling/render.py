"""Placeholders in reminder and follow-up texts, rendered in the bot user's timezone (else the
workspace's). Pure: the caller passes every value in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

PLACEHOLDER = re.compile(r"\[([A-Z_]+)\]")


@dataclass(frozen=True)
class Facts:
    start_time: datetime
    duration: int
    service_name: str
    location: str
    name: str
    booking_id: int
    timezone: str


def values(facts: Facts) -> dict[str, str]:
    local = facts.start_time.astimezone(ZoneInfo(facts.timezone))
    # Plain formatting, not strftime: the scheduler renders this for every reminder it sends.
    time = "%02d:%02d" % (local.hour, local.minute)  # noqa: UP031
    day = "%04d-%02d-%02d" % (local.year, local.month, local.day)  # noqa: UP031
    return {
        "TIME": time,
        "DATE": day,
        "DATETIME": f"{day} {time} ({facts.timezone})",
        "SERVICE": facts.service_name,
        "DURATION": f"{facts.duration} minutes",
        "LOCATION": facts.location,
        "NAME": facts.name,
        "BOOKING_ID": str(facts.booking_id),
    }


def render(text: str, table: dict[str, str]) -> str:
    """Replace each known `[PLACEHOLDER]`; an unknown one is left as written."""
    return PLACEHOLDER.sub(lambda m: table.get(m.group(1), m.group(0)), text)
