"""Times in words for a tool's answer ("Tuesday 3 March 2026, 15:00 CET"), beside the ISO 8601
ones, in the bot user's timezone. Pure: the caller passes the timezones in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# Written out here rather than by strftime's %A and %B, which follow the process's locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# The fields of an answer that hold a time (a booking's, a reminder's, a slot's); each gets a
# `<field>_local` beside it. `created_at` and `updated_at` are bookkeeping and stay as they are.
TIME_FIELDS = frozenset({"start_time", "end_time", "scheduled_at", "sent_at", "start", "end"})
LOCAL_SUFFIX = "_local"


def in_words(at: datetime, timezone: str) -> str:
    """`at` on the wall clock of `timezone`: "Tuesday 3 March 2026, 15:00 CET". The zone's
    abbreviation where it has one, else its offset ("UTC+05:30")."""
    local = at.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or ""
    if not zone.isalpha():
        offset = local.strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}"
    return (
        f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{local.hour:02d}:{local.minute:02d} {zone}"
    )


def bot_users_named(value: Any) -> set[str]:
    """The bot users (`bot_user_ns`) an answer names, however deep."""
    if isinstance(value, list):
        return set().union(*(bot_users_named(v) for v in value))
    if not isinstance(value, dict):
        return set()
    named = {value["bot_user_ns"]} if isinstance(value.get("bot_user_ns"), str) else set()
    return named.union(*(bot_users_named(v) for v in value.values()))


def with_local_times(value: Any, timezone: str, timezones: Mapping[str, str]) -> Any:
    """`value` (an answer as JSON) with `<field>_local` beside each time field: in words, in the
    timezone of the bot user the object (or the one holding it) names, found in `timezones`,
    else in `timezone`. A value that is not a time with an offset (a date) gets none."""
    if isinstance(value, list):
        return [with_local_times(v, timezone, timezones) for v in value]
    if not isinstance(value, dict):
        return value
    zone = timezones.get(value.get("bot_user_ns") or "", timezone)
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[key] = with_local_times(item, zone, timezones)
        at = _aware(item) if key in TIME_FIELDS else None
        if at is not None:
            out[key + LOCAL_SUFFIX] = in_words(at, zone)
    return out


def _aware(item: Any) -> datetime | None:
    if not isinstance(item, str):
        return None
    try:
        at = datetime.fromisoformat(item)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
