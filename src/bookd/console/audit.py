"""The audit log as an admin reads it: each change as one line of words in the workspace's
timezone, and who made it by name. Pure: the names are looked up by the page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHORT = "%a %d %b %Y %H:%M"
# How the log's actors (`bookings.Context.actor`) read, with the number to look a name up by.
ACTORS = {"admin_user": "admin", "api_key": "API key", "customer": "customer token"}


def actor_name(actor: str, names: Mapping[str, str]) -> str:
    """`admin_user:3` as the admin's e-mail, `api_key:1` as `API key “Default”`; the scheduler and
    anything not known by name as the log holds it, in words."""
    if actor in names:
        return names[actor]
    kind, _, number = actor.partition(":")
    return f"{ACTORS[kind]} {number}" if kind in ACTORS and number else actor


def describe(details: Mapping[str, Any], tz: ZoneInfo) -> str:
    """One readable line for a log row's details, such as
    `start Wed 02 Dec 2026 10:30 → Thu 03 Dec 2026 10:30, reason "asked for Friday"`."""
    parts: list[str] = []
    old, new = details.get("old"), details.get("new")
    if isinstance(old, Mapping) and isinstance(new, Mapping):  # a reschedule
        parts.append(
            f"start {_value(old.get('start_time'), tz)} → {_value(new.get('start_time'), tz)}"
        )
        if old.get("duration") != new.get("duration"):
            parts.append(f"duration {old.get('duration')} → {new.get('duration')} min")
    elif "old" in details or "new" in details:  # a rating
        parts.append(f"rating {_value(old, tz)} → {_value(new, tz)}")
    for name, change in (details.get("changes") or {}).items():
        parts.append(f"{name} {_value(change.get('old'), tz)} → {_value(change.get('new'), tz)}")
    if details.get("reason"):
        parts.append(f"reason {_quoted(details['reason'])}")
    if details.get("due_at"):
        parts.append(f"due {_value(details['due_at'], tz)}")
    forced = details.get("forced")
    if isinstance(forced, Mapping):
        parts.append(
            f"forced despite: {forced.get('message') or forced.get('code')} ({forced.get('code')})"
        )
    known = {"old", "new", "changes", "reason", "due_at", "forced"}
    parts.extend(f"{k} {_value(v, tz)}" for k, v in details.items() if k not in known)
    return ", ".join(parts)


def _value(value: Any, tz: ZoneInfo) -> str:
    """A detail's value: an instant in the workspace's zone, nothing as a dash, text quoted."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        instant = _instant(value)
        return instant.astimezone(tz).strftime(SHORT) if instant else _quoted(value)
    if isinstance(value, Mapping | list):
        return _quoted(str(value))
    return str(value)


def _instant(text: str) -> datetime | None:
    if len(text) < 20 or text[4] != "-" or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _quoted(text: str) -> str:
    return f"“{text}”"
