"""Placeholders in reminder and follow-up texts, rendered in the bot user's timezone (else the
workspace's). Pure: the caller passes every value in."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

PLACEHOLDER = re.compile(r"\[([A-Z_]+)\]")

# `[MANAGE_URL]`: the booking's self-service page, with a customer token of its bot user in the
# link. Not among `values`: a token is issued only for a message that holds the placeholder, as it
# is sent (`scheduling.outgoing`).
MANAGE_URL = "MANAGE_URL"
_MANAGE_PLACEHOLDER = f"[{MANAGE_URL}]"
# The page's address; the token travels once in the query and is then kept in a cookie.
MANAGE_PATH = "/my/{booking_id}"
MANAGE_TOKEN_PARAM = "t"


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


def holds_manage_url(*texts: str) -> bool:
    """Whether any of `texts` holds `[MANAGE_URL]` (a substring test: what a message that does not
    costs the scheduler)."""
    return any(_MANAGE_PLACEHOLDER in text for text in texts)


def manage_url(base: str, booking_id: int, token: str) -> str:
    """The self-service link of a booking under `base` (the public URL), carrying `token` (URL-safe
    as issued: `bkc_` and base64url)."""
    return f"{base}{MANAGE_PATH.format(booking_id=booking_id)}?{MANAGE_TOKEN_PARAM}={token}"
