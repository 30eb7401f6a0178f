"""REST: a booking's .ics, and the workspace's calendar feed (its URL carries its own token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from bookd.bookings import service as bookings
from bookd.bookings.endpoints import BookingId, Ctx
from bookd.calendars import service as calendars
from bookd.calendars.schemas import FeedIssued, FeedStatus
from bookd.kit.http import public_base
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces.auth import CurrentCaller

router = APIRouter(tags=["calendars"], route_class=UnitOfWorkRoute)

MEDIA_TYPE = "text/calendar"


class CalendarResponse(Response):
    media_type = MEDIA_TYPE
    charset = "utf-8"


ICS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An iCalendar document (RFC 5545)",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}
ERROR_REF = "#/components/schemas/ErrorResponse"


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`errors()` for an operation whose success is not JSON: its errors still are."""
    return {
        status: {
            "description": answer["description"],
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        }
        for status, answer in errors(*statuses).items()
    }


TokenPath = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get(
    "/v1/bookings/{booking_id}.ics",
    response_class=CalendarResponse,
    responses=ICS | json_errors(404),
)
async def booking_ics(booking_id: BookingId, ctx: Ctx) -> CalendarResponse:
    """One booking as an iCalendar event; its UID stays, its SEQUENCE rises with each change of
    time or a cancellation."""
    loaded = await bookings.load(ctx, booking_id)
    body = calendars.booking_ics(ctx.workspace.id, loaded.booking, loaded.service, loaded.bot_user)
    return CalendarResponse(
        body, headers={"Content-Disposition": f'attachment; filename="booking-{booking_id}.ics"'}
    )


@router.post("/v1/calendar-feed", status_code=201, response_model=FeedIssued, responses=errors())
async def issue_feed(
    request: Request, caller: CurrentCaller, session: Session, now: Now
) -> FeedIssued:
    """A new feed URL for the workspace's bookings; the previous URL stops working. The URL is
    under BOOKD_PUBLIC_URL when that is set (otherwise under the address this request was sent to)."""
    issued = await calendars.issue_feed(session, caller.workspace_id, now)
    return FeedIssued(
        url=public_base(request) + calendars.feed_path(issued.token),
        token=issued.token,
        created_at=issued.created_at,
    )


@router.get("/v1/calendar-feed", response_model=FeedStatus, responses=errors())
async def feed_status(caller: CurrentCaller, session: Session) -> FeedStatus:
    feed = await calendars.active_feed(session, caller.workspace_id)
    return FeedStatus(active=feed is not None, created_at=feed.created_at if feed else None)


@router.delete("/v1/calendar-feed", status_code=204, responses=errors())
async def revoke_feed(caller: CurrentCaller, session: Session, now: Now) -> Response:
    """Revoke the feed URL: every subscription made with it stops updating."""
    await calendars.revoke_feed(session, caller.workspace_id, now)
    return Response(status_code=204)


@router.get(
    "/v1/feeds/{token}.ics",
    response_class=CalendarResponse,
    responses=ICS | json_errors(404),
)
async def feed(token: TokenPath, session: Session, now: Now) -> CalendarResponse:
    """The workspace's bookings from 90 days ago on, for calendar apps to subscribe to. The token
    in the path is the credential (calendar apps cannot send an API key): 401 when it is unknown
    or revoked."""
    return CalendarResponse(await calendars.feed_ics(session, token, now))
