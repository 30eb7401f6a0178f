"""The parts of event payloads and API answers, built by hand and encoded with orjson.

Each part is exactly what the API's schema dumps (`BookingOut`, `ServiceOut`, `BotUserOut`,
`MessageOut` with `model_dump(mode="json")`): tests/events/test_payloads.py holds every part equal
to its schema's dump, key for key, so a field added to a schema fails there until it is added
here. They exist because the scheduler writes thousands of payloads a second and a booking
creation answers with one: going through pydantic from ORM attributes costs several times more
than building the dict.

Every function takes any object with the ORM model's attribute names: an ORM instance, or a row
selected by those attributes. A part holds its times as UTC datetimes, which `dumps` writes as
the schemas do (`iso_z`: to the second, with a `Z`), in orjson's C: formatting them in Python
was a tenth of what the scheduler spends on a sent reminder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from bookd.kit.clock import iso_z

# What `iso_z` writes: a UTC time to the second, with a `Z` (orjson drops the microseconds, as
# `iso_z` does, without rounding).
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def time(value: datetime) -> datetime | str:
    """A time as a part holds it: a UTC datetime as it is (the database hands them back so), for
    `dumps` to write; any other already written, by `iso_z`, which converts it to UTC first."""
    return value if value.tzinfo is UTC else iso_z(value)


def _optional_time(value: datetime | None) -> datetime | str | None:
    return None if value is None else time(value)


def booking(b: Any, service: Any, bot_user: Any) -> dict[str, Any]:
    """`BookingOut.of(b, service, bot_user)`, dumped."""
    return {
        "id": b.id,
        "service_uid": service.service_uid,
        "service_id": service.id,
        "bot_user_ns": bot_user.ns,
        "status": b.status,
        "start_time": time(b.start_time),
        "end_time": time(b.end_time),
        "duration": b.duration,
        "location": b.location,
        "source": b.source,
        "metadata": b.metadata_json,
        "notes": b.notes,
        "rating": b.rating,
        "cancel_reason": b.cancel_reason,
        "reschedule_reason": b.reschedule_reason,
        "reschedule_count": b.reschedule_count,
        "version": b.version,
        "created_at": time(b.created_at),
        "updated_at": time(b.updated_at),
    }


def service(s: Any) -> dict[str, Any]:
    """`ServiceOut.model_validate(s)`, dumped."""
    return {
        "id": s.id,
        "service_uid": s.service_uid,
        "name": s.name,
        "description": s.description,
        "default_duration": s.default_duration,
        "status": s.status,
        "created_at": time(s.created_at),
        "updated_at": time(s.updated_at),
    }


def bot_user(u: Any) -> dict[str, Any]:
    """`BotUserOut.model_validate(u)`, dumped."""
    return {
        "bot_user_ns": u.ns,
        "name": u.name,
        "email": u.email,
        "phone": u.phone,
        "timezone": u.timezone,
        "locale": u.locale,
        "followups_opt_out": u.followups_opt_out,
        "created_at": time(u.created_at),
        "updated_at": time(u.updated_at),
    }


def message(m: Any) -> dict[str, Any]:
    """`MessageOut.of(m)`, dumped."""
    return {
        "id": m.id,
        "sequence": m.sequence,
        "title": m.title,
        "description": m.description,
        "scheduled_at": time(m.scheduled_at),
        "status": m.status,
        "sent_at": _optional_time(m.sent_at),
        "skip_reason": m.skip_reason,
    }


def dumps(data: Any) -> str:
    """Compact JSON text, non-ASCII kept as is, times as `iso_z` writes them: what
    `json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=iso_z)` writes, several
    times faster. A string orjson refuses (a lone surrogate, which a JSON body may spell as an
    escape) falls back to the standard library."""
    try:
        return orjson.dumps(data, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_time_text)


def _time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return iso_z(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
