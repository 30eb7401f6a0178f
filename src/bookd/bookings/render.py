"""Placeholders in reminder and follow-up texts, rendered in the bot user's timezone (else the
workspace's). Pure: the caller passes every value in."""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
def _pieces(text: str) -> tuple[str, ...]:
    """`text` split at its placeholders: literal, name, literal, name, ..., literal."""
    return tuple(PLACEHOLDER.split(text))


def render(text: str, table: dict[str, str]) -> str:
    """Replace each known `[PLACEHOLDER]`; an unknown one is left as written.

    A template's text is split once and then joined for every message (the scheduler renders
    many messages from a few templates), which costs less than a substitution with a callback per
    placeholder."""
    pieces = _pieces(text)
    if len(pieces) == 1:
        return text
    get = table.get
    return "".join(
        [piece if i % 2 == 0 else get(piece, f"[{piece}]") for i, piece in enumerate(pieces)]
    )
