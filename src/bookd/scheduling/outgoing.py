"""The sends and skips of due reminders and follow-ups by the scheduler: what each adds to the
transaction's change set (`kit.changes`) — the message's new status, its audit row, its event, the
customer token of a `[MANAGE_URL]` link its text carries, its counter change — written once for
the batch by the same writers every other change uses (`bookings.writers`,
`webhooks.relay.write_events`), in bulk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import counts, payloads, policy, render, writers
from bookd.bookings.domain import MessageStatus
from bookd.bookings.queries import FOLLOWUP, REMINDER, Context, Loaded
from bookd.bookings.rows import BookingRow, BotUserRow, MessageRow, ServiceRow
from bookd.bookings.service import TEMPLATES
from bookd.events import outbox
from bookd.events.types import EventType
from bookd.kit import changes
from bookd.kit.bulk import insert_rows
from bookd.kit.clock import iso_z
from bookd.kit.db import in_ids
from bookd.webhooks.relay import EVENTS_KIND
from bookd.workspaces import service as workspaces
from bookd.workspaces.models import CustomerToken, Tenant

CUSTOMER_TOKENS = cast(Table, CustomerToken.__table__)


@dataclass
class Snapshot:
    """A booking as the scheduler reads it to send its due messages: rows with the ORM models'
    attribute names (a booking and bot user row, the service), not ORM objects. Read only."""

    booking: BookingRow
    service: ServiceRow
    bot_user: BotUserRow


Sendable = Loaded | Snapshot


@dataclass
class _Link:
    """A customer token issued for a `[MANAGE_URL]` link; its writer (`write_links`) sets its
    expiry from the service's follow-ups."""

    values: dict[str, Any]
    service_id: int
    end: datetime
    tz: ZoneInfo


class Outgoing:
    """What one scheduler batch's sends and skips share: the batch's time, the rendered parts of
    their events and placeholders, the tokens of their links and their counter changes (one tally
    for the batch, added to the change set at `flush`).

    Event payload parts are rendered once per batch and reused: a batch sends many messages of
    the same services, bot users and bookings, which nothing changes while they are sent (every
    change to a booking bumps its version, which is part of the key).
    """

    def __init__(self, now: datetime, *, link_base: str | None = None) -> None:
        self.now = now
        self.link_base = link_base
        """The public URL `[MANAGE_URL]` links are built under; None: the placeholder is left as
        written."""
        # The token of each booking's link in this batch (by booking and end): a second message of
        # the booking in the same batch carries the same link.
        self._tokens: dict[tuple[int, datetime], str] = {}
        self.counts = counts.Tally.empty()
        self._parts: dict[tuple[str, int, int], Any] = {}

    def _part(self, kind: str, key: int, version: int, make: Any) -> Any:
        cache_key = (kind, key, version)
        part = self._parts.get(cache_key)
        if part is None:
            part = self._parts[cache_key] = make()
        return part

    def payload(self, loaded: Sendable) -> dict[str, Any]:
        """`loaded.payload()`, from the parts already rendered in this batch."""
        booking, service, bot_user = loaded.booking, loaded.service, loaded.bot_user
        return {
            "booking": self._part(
                "booking",
                booking.id,
                booking.version,
                lambda: payloads.booking(booking, service, bot_user),
            ),
            "service": self._part("service", service.id, 0, lambda: payloads.service(service)),
            "bot_user": self._part("bot_user", bot_user.id, 0, lambda: payloads.bot_user(bot_user)),
            "ics_url": payloads.ics_path(booking.id),
        }

    def placeholders(self, loaded: Sendable, workspace: Tenant) -> dict[str, str]:
        table: dict[str, str] = self._part(
            "placeholders",
            loaded.booking.id,
            loaded.booking.version,
            lambda: _placeholders(loaded, workspace),
        )
        return table

    def manage_url(self, ctx: Context, loaded: Sendable) -> str | None:
        """The booking's self-service link, with a new customer token of its bot user (written at
        `flush`, in the transaction of the send); None without a `link_base`. The stored token is
        hashed: a link sent in an earlier batch cannot be sent again, so each batch issues its own."""
        if self.link_base is None:
            return None
        booking = loaded.booking
        key = (booking.id, booking.end_time)
        token = self._tokens.get(key)
        if token is None:
            values, token = workspaces.customer_token_values(
                ctx.workspace.id, loaded.bot_user.id, self.now, expires_at=self.now
            )
            changes.of(ctx.session).add(
                LINKS, _Link(values, loaded.service.id, booking.end_time, ctx.tz)
            )
            self._tokens[key] = token
        return render.manage_url(self.link_base, booking.id, token)

    def flush(self, session: AsyncSession) -> None:
        """Add the batch's counter changes so far to the change set."""
        if self.counts.days:
            changes.of(session).add(writers.COUNTERS, self.counts)
            self.counts = counts.Tally.empty()


async def write_links(session: AsyncSession, links: list[_Link]) -> None:
    """The writer of the customer tokens of sent links, each expiring after its booking's last
    follow-up (`policy.link_expiry`): the services' active follow-ups read in one statement, the
    tokens inserted in another."""
    dialect = session.get_bind().dialect.name
    rows = await session.execute(
        select(
            TEMPLATES.c.service_id, TEMPLATES.c.days, TEMPLATES.c.hours, TEMPLATES.c.minutes
        ).where(
            in_ids(dialect, TEMPLATES.c.service_id),
            TEMPLATES.c.kind == FOLLOWUP,
            TEMPLATES.c.status == "active",
        ),
        {"ids": list({link.service_id for link in links})},
    )
    followups: dict[int, list[tuple[int, int, int]]] = {}
    for service_id, days, hours, minutes in rows:
        followups.setdefault(service_id, []).append((days, hours, minutes))
    for link in links:
        offsets = followups.get(link.service_id, [])
        now = link.values["created_at"]
        link.values["expires_at"] = policy.link_expiry(link.end, offsets, tz=link.tz, now=now)
    await insert_rows(session, CUSTOMER_TOKENS, [link.values for link in links])


LINKS = changes.Kind("customer tokens of links", 40, write_links)


def _placeholders(loaded: Sendable, workspace: Tenant) -> dict[str, str]:
    bot_user = loaded.bot_user
    return render.values(
        render.Facts(
            start_time=loaded.booking.start_time,
            duration=loaded.booking.duration,
            service_name=loaded.service.name,
            location=loaded.booking.location,
            name=bot_user.name or bot_user.ns,
            booking_id=loaded.booking.id,
            timezone=bot_user.timezone or workspace.timezone,
        )
    )


def _sent(message: MessageRow, now: datetime, table: dict[str, str]) -> dict[str, Any]:
    """The message as the API returns it once sent at `now`, title and description rendered."""
    out = payloads.message(message)
    out["status"] = MessageStatus.SENT.value
    out["sent_at"] = iso_z(now)
    out["title"] = render.render(message.title, table)
    out["description"] = render.render(message.description, table)
    return out


def _message_log(
    ctx: Context, loaded: Sendable, message: MessageRow, action: str, reason: str | None = None
) -> dict[str, Any]:
    details = {"sequence": message.sequence, "scheduled_at": iso_z(message.scheduled_at)}
    if reason:
        details["reason"] = reason
    status = loaded.booking.status
    return writers.log_row(ctx.actor, ctx.now, loaded.booking.id, action, status, status, details)


def send_message(ctx: Context, loaded: Sendable, message: MessageRow, out: Outgoing) -> None:
    """Mark a due reminder or follow-up (a `BookingMessage` or a row of one) sent and record its
    REMINDER_SENDING / FOLLOWUP_SENDING event, with the texts rendered for the bot user; written
    when the transaction's change set is. An ORM object's own state is the caller's to update."""
    pending = changes.of(ctx.session)
    pending.add(writers.MESSAGE_UPDATES, writers.Sent(message.id, ctx.now, loaded.booking.id))
    _count(ctx, loaded, message, MessageStatus.SENT, out)
    pending.add(writers.AUDIT, _message_log(ctx, loaded, message, f"send_{message.kind}"))
    is_reminder = message.kind == REMINDER
    table = out.placeholders(loaded, ctx.workspace)
    if render.holds_manage_url(message.title, message.description):
        link = out.manage_url(ctx, loaded)
        if link is not None:
            table = table | {render.MANAGE_URL: link}
    pending.add(
        EVENTS_KIND,
        outbox.row(
            workspace_id=ctx.workspace.id,
            type=EventType.REMINDER_SENDING if is_reminder else EventType.FOLLOWUP_SENDING,
            occurred_at=ctx.now,
            data=out.payload(loaded) | {message.kind: _sent(message, ctx.now, table)},
            booking_id=loaded.booking.id,
        ),
    )


def _count(
    ctx: Context, loaded: Sendable, message: MessageRow, status: MessageStatus, out: Outgoing
) -> None:
    booking = (loaded.booking.id, loaded.service.id)
    out.counts.message(
        ctx.workspace.id, booking, message.kind, status.value, message.scheduled_at, ctx.tz
    )


def skip_message(
    ctx: Context, loaded: Sendable, message: MessageRow, reason: str, out: Outgoing
) -> None:
    """Mark a due reminder or follow-up skipped for `reason`, with its audit row; written when the
    transaction's change set is."""
    pending = changes.of(ctx.session)
    pending.add(writers.MESSAGE_UPDATES, writers.Skipped(message.id, reason, loaded.booking.id))
    _count(ctx, loaded, message, MessageStatus.SKIPPED, out)
    pending.add(writers.AUDIT, _message_log(ctx, loaded, message, f"skip_{message.kind}", reason))
