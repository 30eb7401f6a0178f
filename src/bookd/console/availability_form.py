"""The availability form's text format, both ways: a day's hours as `09:00-12:00, 13:00-17:00`,
a date override as a line `2027-12-24 09:00-12:00` (or `2027-12-25 closed`).

The text is only split into the API's JSON body here; `AvailabilityIn` checks every value, so a
form is refused by the same rule and message as `PUT /v1/services/{uid}/availability`.
"""

from __future__ import annotations

import re
from typing import Any

from bookd.availability.schemas import WEEKDAYS, AvailabilityOut, HoursRange
from bookd.kit.web import validation_details

INT_FIELDS = ("capacity", "buffer_before", "buffer_after", "min_notice", "horizon_days")
NUMBER_FIELDS = (*INT_FIELDS, "slot_interval")
CLOSED = "closed"
# A range's two times may be joined by a hyphen or an en dash, with or without spaces.
_DASH = re.compile(r"\s*[-\u2013]\s*")


class FormatError(ValueError):
    """Text that is not ranges at all: the form's own format, named next to its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def day_field(day: str) -> str:
    return f"hours_{day}"


def ranges_text(ranges: list[HoursRange]) -> str:
    return ", ".join(f"{r.start}-{r.end}" for r in ranges) or CLOSED


def parse_ranges(text: str, field: str) -> list[dict[str, str]]:
    text = text.strip()
    if text.lower() in ("", CLOSED):
        return []
    ranges = []
    for piece in text.split(","):
        parts = _DASH.split(piece.strip())
        if len(parts) != 2:
            raise FormatError(field, f"expected ranges such as 09:00-12:00, 13:00-17:00: {piece!r}")
        ranges.append({"start": parts[0], "end": parts[1]})
    return ranges


def form_values(settings: AvailabilityOut | None) -> dict[str, str]:
    """The form's fields for the current settings (none: open around the clock)."""
    if settings is None:
        return {"open": "always"}
    values = {
        "open": "always" if settings.weekly_hours is None else "weekly",
        "date_overrides": "\n".join(
            f"{o.date.isoformat()} {ranges_text(o.hours)}" for o in settings.date_overrides
        ),
    }
    for day in WEEKDAYS:
        hours = (settings.weekly_hours or {}).get(day, [])
        values[day_field(day)] = ranges_text(hours) if hours else ""
    for name in NUMBER_FIELDS:
        value = getattr(settings, name)
        values[name] = "" if value is None else str(value)
    return values


def body(form: dict[str, str]) -> dict[str, Any]:
    """The posted form as the API's JSON body; raises `FormatError` for text that is no ranges.

    `open` = `always` sends `weekly_hours: null` (open around the clock); otherwise each weekday's
    field holds its ranges, and an empty field (or `closed`) closes that weekday.
    """
    data: dict[str, Any] = {}
    if form.get("open") != "always":
        data["weekly_hours"] = {
            day: parse_ranges(form.get(day_field(day), ""), day_field(day))
            for day in WEEKDAYS
            if form.get(day_field(day), "").strip().lower() not in ("", CLOSED)
        }
    overrides = []
    for line in form.get("date_overrides", "").splitlines():
        if not line.strip():
            continue
        first, _, rest = line.strip().partition(" ")
        overrides.append({"date": first, "hours": parse_ranges(rest, "date_overrides")})
    data["date_overrides"] = overrides
    for name in NUMBER_FIELDS:
        value = form.get(name, "").strip()
        if value == "":
            continue
        try:
            data[name] = int(value)
        except ValueError:
            data[name] = value  # the schema refuses it, with its own message
    return data


def errors_of(errors: Any) -> dict[str, str]:
    """The schema's messages placed next to the form's fields: a weekday's next to its day, an
    override's next to the overrides (with its number), the rest by name or above the form."""
    placed: dict[str, str] = {}
    for detail in validation_details(errors):
        parts = str(detail["field"]).split(".")
        message = str(detail["message"])
        if parts[0] == "weekly_hours" and len(parts) > 1 and parts[1] in WEEKDAYS:
            name = day_field(parts[1])
        elif parts[0] == "date_overrides" and len(parts) > 1 and parts[1].isdigit():
            name, message = "date_overrides", f"override {int(parts[1]) + 1}: {message}"
        elif parts[0] in (*NUMBER_FIELDS, "weekly_hours", "date_overrides"):
            name = parts[0]
        else:
            name = "form"
        placed.setdefault(name, message)
    return placed
