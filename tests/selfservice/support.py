"""A customer's browser over the in-process app: the self-service page, opened from the link a
message carries."""

from __future__ import annotations

from typing import Any

from bookd.bookings import render
from tests import factories
from tests.conftest import Api
from tests.console.support import Browser, browser


def link(booking_id: int, token: str) -> str:
    """The address `[MANAGE_URL]` renders, without the public URL before it."""
    return render.manage_url("", booking_id, token)


def page(booking_id: int) -> str:
    return render.MANAGE_PATH.format(booking_id=booking_id)


def opened(
    api: Api, booking_id: int, *, bot_user_ns: str, **token: Any
) -> tuple[Browser, factories.Customer]:
    """A browser that followed a link with a new customer token of `bot_user_ns` to the page of
    `booking_id` (redirected to its address without the token, the token now in a cookie), and
    holds the page's form token."""
    customer = factories.customer(api, bot_user_ns=bot_user_ns, **token)
    b = follow(api, booking_id, customer.key)
    shown = b.get(page(booking_id))
    assert shown.status_code == 200, shown.text
    return b, customer


def follow(api: Api, booking_id: int, token: str) -> Browser:
    b = browser(api.client)
    answer = b.get(link(booking_id, token))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == page(booking_id)
    return b
