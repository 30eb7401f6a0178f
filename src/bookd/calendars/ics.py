"""Bookings as iCalendar (RFC 5545): pure, from a booking's facts to the bytes a calendar reads.

One VEVENT per booking, with a UID that never changes, so that a calendar that subscribed to the
feed updates the event in place: a reschedule raises SEQUENCE, a cancellation turns STATUS to
CANCELLED (and raises SEQUENCE too, as RFC 5545 asks for a change of status).

Every text written passes through `text()`: RFC 5545 allows no control character in a TEXT value
but the tab, and a line break only as the escape `\\n` (which icalendar writes for LF and CR).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event

import bookd

PRODID = f"-//bookd//bookd {bookd.__version__}//EN"
# Calendar apps poll a subscribed feed at their own pace; these ask for every 15 minutes.
REFRESH = timedelta(minutes=15)

# The C0 controls but tab, LF and CR; DEL; the C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Booking status -> iCalendar STATUS. A meeting that took place (or was missed) stays CONFIRMED:
# it was on the calendar; only a cancelled or deactivated booking is taken off.
STATUS = {
    "pending": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "in_progress": "CONFIRMED",
    "completed": "CONFIRMED",
    "no_show": "CONFIRMED",
    "cancelled": "CANCELLED",
    "inactive": "CANCELLED",
}


@dataclass(frozen=True)
class BookingFacts:
    workspace_id: int
    booking_id: int
    status: str
    start_time: datetime
    end_time: datetime
    reschedule_count: int
    service_name: str
    contact: str
    location: str
    notes: str
    created_at: datetime
    updated_at: datetime


def text(value: str) -> str:
    """`value` as an iCalendar TEXT may hold it: without control characters (line breaks stay)."""
    return _CONTROLS.sub("", value)


def uid(workspace_id: int, booking_id: int) -> str:
    return f"booking-{booking_id}-ws{workspace_id}@bookd"


def sequence(status: str, reschedule_count: int) -> int:
    """Raised by each reschedule and by the cancellation."""
    return reschedule_count + (1 if STATUS[status] == "CANCELLED" else 0)


def event(facts: BookingFacts) -> Event:
    vevent = Event()
    vevent.add("uid", uid(facts.workspace_id, facts.booking_id))
    # DTSTAMP: when this version of the event was made, which for a published calendar is the
    # booking's last change, not the moment the file was served.
    vevent.add("dtstamp", facts.updated_at)
    vevent.add("created", facts.created_at)
    vevent.add("last-modified", facts.updated_at)
    vevent.add("dtstart", facts.start_time)
    if facts.end_time > facts.start_time:
        # A zero-length booking has no DTEND: RFC 5545 then ends it at its start.
        vevent.add("dtend", facts.end_time)
    vevent.add("summary", text(f"{facts.service_name}: {facts.contact}"))
    vevent.add("status", STATUS[facts.status])
    vevent.add("sequence", sequence(facts.status, facts.reschedule_count))
    vevent.add("transp", "TRANSPARENT" if STATUS[facts.status] == "CANCELLED" else "OPAQUE")
    if facts.location:
        vevent.add("location", text(facts.location))
    if facts.notes:
        vevent.add("description", text(facts.notes))
    return vevent


def calendar(bookings: Iterable[BookingFacts], *, name: str | None = None) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name is not None:
        cal.add("x-wr-calname", text(name))
        cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", "PT15M")  # Outlook reads this one, as text
    for facts in bookings:
        cal.add_component(event(facts))
    data: bytes = cal.to_ical()
    return data
