"""The scheduler's bulk writer: the sends and skips of due reminders and follow-ups, with their
audit rows and events, collected for a batch and written one statement per table; and the
customer tokens of the `[MANAGE_URL]` links that the sent texts carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import counts, payloads, policy, render
from bookd.bookings.domain import MessageStatus
from bookd.bookings.rows import BookingRow, BotUserRow, MessageRow, ServiceRow
from bookd.bookings.service import (
    FOLLOWUP,
    MESSAGES,
    REMINDER,
    TEMPLATES,
    Context,
    Loaded,
    write_logs,
)
from bookd.events import outbox
from bookd.events.payloads import dumps
from bookd.events.types import EventType
from bookd.kit.clock import iso_z
from bookd.kit.db import in_ids, insert_rows
from bookd.webhooks import relay
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
    """A customer token issued for a `[MANAGE_URL]` link, written at `Outgoing.flush`, which sets
    its expiry from the service's follow-ups."""

    values: dict[str, Any]
    service_id: int
    end: datetime
    tz: ZoneInfo


class Outgoing:
    """The sends and skips of due reminders and follow-ups of one scheduler batch, with their audit
    rows and events, written in bulk: one statement per table instead of ORM objects and a flush
    per row. `flush` writes what is collected, in the order it was collected; the scheduler calls
    it before any other change in the same transaction and before the transaction ends, so the
    database sees every write in the order it was made.

    Event payload parts are rendered once per batch and reused: a batch sends many messages of
    the same services, bot users and bookings, which nothing changes while they are sent (every
    change to a booking bumps its version, which is part of the key).
    """

    def __init__(self, now: datetime, *, link_base: str | None = None) -> None:
        self.now = now
        self.link_base = link_base
        """The public URL `[MANAGE_URL]` links are built under; None: the placeholder is left as
        written."""
        self.links: list[_Link] = []
        # The token of each booking's link in this batch (by booking and end): a second message of
        # the booking in the same batch carries the same link.
        self._tokens: dict[tuple[int, datetime], str] = {}
        self.sent: dict[datetime, list[int]] = {}
        self.skipped: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.counts = counts.Tally.empty()
        """The batch's analytics counter changes, its changes' too (`Context.counts`): written
        once, at the batch's end (`scheduler.run_batch`)."""
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
            self.links.append(_Link(values, loaded.service.id, booking.end_time, ctx.tz))
            self._tokens[key] = token
        return render.manage_url(self.link_base, booking.id, token)

    async def flush(self, session: AsyncSession) -> None:
        table = MESSAGES
        dialect = session.get_bind().dialect.name
        for sent_at, ids in self.sent.items():
            await session.execute(
                update(table)
                .where(in_ids(dialect, table.c.id))
                .values(status=MessageStatus.SENT.value, sent_at=sent_at),
                {"ids": ids},
            )
        if self.skipped:
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("message_id"))
                .values(status=MessageStatus.SKIPPED.value, skip_reason=bindparam("reason")),
                self.skipped,
            )
        await write_logs(session, self.logs)
        await relay.write_relayed(session, self.events, self.now)
        if self.links:
            await _write_links(session, self.links, self.now)
        self.sent, self.skipped, self.logs, self.events, self.links = {}, [], [], [], []


async def _write_links(session: AsyncSession, links: list[_Link], now: datetime) -> None:
    """The customer tokens of the batch's links, each expiring after its booking's last follow-up
    (`policy.link_expiry`): the services' active follow-ups read in one statement, the tokens
    inserted in another."""
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
        link.values["expires_at"] = policy.link_expiry(link.end, offsets, tz=link.tz, now=now)
    await insert_rows(session, CUSTOMER_TOKENS, [link.values for link in links])


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
    return {
        "booking_id": loaded.booking.id,
        "action": action,
        "actor": ctx.actor,
        "old_status": loaded.booking.status,
        "new_status": loaded.booking.status,
        "details": dumps(details),
        "created_at": ctx.now,
    }


def send_message(ctx: Context, loaded: Sendable, message: MessageRow, out: Outgoing) -> None:
    """Mark a due reminder or follow-up (a `BookingMessage` or a row of one) sent and record its
    REMINDER_SENDING / FOLLOWUP_SENDING event, with the texts rendered for the bot user; written
    at `out.flush()`. An ORM object's own state is the caller's to update."""
    out.sent.setdefault(ctx.now, []).append(message.id)
    _count(ctx, loaded, message, MessageStatus.SENT, out)
    out.logs.append(_message_log(ctx, loaded, message, f"send_{message.kind}"))
    is_reminder = message.kind == REMINDER
    table = out.placeholders(loaded, ctx.workspace)
    if render.holds_manage_url(message.title, message.description):
        link = out.manage_url(ctx, loaded)
        if link is not None:
            table = table | {render.MANAGE_URL: link}
    out.events.append(
        outbox.row(
            workspace_id=ctx.workspace.id,
            type=EventType.REMINDER_SENDING if is_reminder else EventType.FOLLOWUP_SENDING,
            occurred_at=ctx.now,
            data=out.payload(loaded) | {message.kind: _sent(message, ctx.now, table)},
            booking_id=loaded.booking.id,
        )
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
    """Mark a due reminder or follow-up skipped for `reason`; written at `out.flush()`."""
    out.skipped.append({"message_id": message.id, "reason": reason})
    _count(ctx, loaded, message, MessageStatus.SKIPPED, out)
    out.logs.append(_message_log(ctx, loaded, message, f"skip_{message.kind}", reason))
