"""Where time enters: one `now()`; everything below takes `now` as an argument."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_now() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC, microseconds dropped (stored and returned at second precision)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def iso_z(value: datetime) -> str:
    """UTC ISO 8601 with a `Z`, as every time leaves the API."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
