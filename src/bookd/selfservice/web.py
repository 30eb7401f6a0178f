"""The self-service page's plumbing: the customer a request stands for, the CSRF token of its
forms, templates, times in the customer's zone and the page's refusals. One transaction per
request, forms, cookies and headers are `kit.pages`', as for the console; the visitor is not an
admin's session but a customer token.

The token comes once in the link's query (`?t=`) and is exchanged for an HttpOnly cookie and a
redirect to the same address without it (`pages.exchange`), so that it leaves the address bar,
the history and any Referer. The cookie holds the token itself, checked against the database on
every request (`workspaces.auth.identify`): expiry and revocation take effect at the next one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from bookd.bookings import service as bookings
from bookd.kit import pages
from bookd.kit.db import AsyncSession
from bookd.kit.errors import Unauthorized
from bookd.kit.pages import (
    CSRF_FIELD,
    CsrfRefused,
    PageRoute,
    html_page,
    read_form,
    redirect_with_notice,
    same_token,
    templates,
)
from bookd.workspaces.auth import Caller, identify
from bookd.workspaces.models import Customer, Workspace
from bookd.workspaces.service import CUSTOMER_TOKEN_PREFIX

CUSTOMER_COOKIE = "bookd_customer"
# Sent back only to the self-service pages, not to the console or the API.
COOKIE_PATH = "/my"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/my-static"
# An address of these pages named a booking (and, before the exchange, held a token): it is sent
# to no other site, and to this one neither.
HEADERS = {**pages.HEADERS, "referrer-policy": "no-referrer"}

LINK_INVALID = "This link has expired or was withdrawn: ask for a new one where you got it."
NO_LINK = "Open this page with the link from your message."
NOT_FOUND = "There is no booking of yours at this address."

TEMPLATES = templates(Path(__file__).parent / "templates")


def render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)


def error_page(status: int, message: str) -> HTMLResponse:
    title = {
        401: "Link not valid",
        403: "Refused",
        404: "Not found",
        409: "Not possible",
    }.get(status, "Something went wrong")
    if status == 404:
        # The same words whether the booking does not exist or is someone else's.
        message = NOT_FOUND
    html = render("my_error.html", workspace=None, title=title, message=message, notice="")
    return HTMLResponse(html, status_code=status)


class SelfServiceRoute(PageRoute):
    """A request of the self-service page: one transaction (`kit.pages.PageRoute`), refusals as
    this page's error page."""

    def refusal_page(self, status: int, message: str) -> Response:
        return error_page(status, message)


def csrf_of(token: str) -> str:
    """The CSRF token of the forms shown to the holder of a customer token: a keyed hash of the
    token, so that no session row is needed and only the token's holder can make it."""
    return hmac.new(token.encode(), b"bookd self-service form", hashlib.sha256).hexdigest()


async def caller_of(request: Request, token: str, now: datetime) -> Caller:
    """The customer `token` stands for at `now`, read as the API reads it; 401 for an unknown,
    expired or revoked token, and for anything but a customer token (an API key is staff's)."""
    if not token.startswith(CUSTOMER_TOKEN_PREFIX):
        raise Unauthorized(LINK_INVALID if token else NO_LINK)
    try:
        check = await identify(request.app.state.db, token, now)
    except Unauthorized:
        raise Unauthorized(LINK_INVALID) from None
    return check.caller


# --- times in the customer's zone ----------------------------------------------------------------


def when(value: datetime, tz: ZoneInfo) -> str:
    """`Tue 14 Jan 2031, 10:30 CET`."""
    return value.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")


def clock(value: datetime, tz: ZoneInfo) -> str:
    """`10:30`."""
    return value.astimezone(tz).strftime("%H:%M")


# --- the customer --------------------------------------------------------------------------------


@dataclass
class Visit:
    """A customer's request: the caller its token stands for, when, and its form (for a POST,
    already CSRF-checked)."""

    request: Request
    session: AsyncSession
    caller: Caller
    token: str
    now: datetime
    form: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Workspace:
        return self.caller.workspace

    @property
    def customer(self) -> Customer:
        customer = self.caller.customer
        assert customer is not None  # `caller_of` admits customer tokens only
        return customer

    @property
    def csrf(self) -> str:
        return csrf_of(self.token)

    def context(self) -> bookings.Context:
        """The booking services' context: the customer acts (`customer:<token id>`), kept by them
        to its own bookings and its services' customer policy."""
        return bookings.Context(
            session=self.session,
            workspace=self.workspace,
            actor=self.customer.actor,
            now=self.now,
            customer=self.customer,
        )

    async def refused(self) -> None:
        """Undo what a refused form tried (its savepoint, `kit.pages.PageRoute`); the page is then
        read afresh."""
        await self.request.state.attempt.rollback()

    def render(
        self, template: str, *, tz: ZoneInfo, status: int = 200, **context: Any
    ) -> HTMLResponse:
        def html(notice: str) -> str:
            return render(
                template,
                workspace=self.workspace,
                notice=notice,
                csrf=self.csrf,
                csrf_field=CSRF_FIELD,
                tz_name=tz.key,
                when=lambda v: when(v, tz),
                clock=lambda v: clock(v, tz),
                **context,
            )

        return html_page(self.request, html, status)

    def redirect(self, url: str, notice: str) -> RedirectResponse:
        return redirect_with_notice(self.request, url, notice)


async def get_visit(request: Request) -> Visit:
    session: AsyncSession = request.state.session
    now: datetime = request.app.state.clock()
    token = request.cookies.get(CUSTOMER_COOKIE, "")
    caller = await caller_of(request, token, now)
    form: dict[str, str] = {}
    if request.method == "POST":
        form = await read_form(request)
        if not same_token(form.get(CSRF_FIELD), csrf_of(token)):
            raise CsrfRefused()
    return Visit(request=request, session=session, caller=caller, token=token, now=now, form=form)


Visitor = Annotated[Visit, Depends(get_visit)]
