"""A booking's .ics and the workspace's feed, read back with two independent parsers (icalendar
and vobject): UTC times, STATUS and SEQUENCE after reschedules and a cancellation; the feed token
works without an API key and stops working when revoked or replaced."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import icalendar
import vobject
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.workspaces import service as workspaces
from bookd.workspaces.schemas import WorkspaceUpdate
from tests import factories
from tests.conftest import Api


def ics_of(api: Api, booking_id: int) -> str:
    response = api.get(f"/v1/bookings/{booking_id}.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    text: str = response.text
    return text


def events_by_uid(text: str) -> dict[str, dict[str, Any]]:
    """The VEVENTs as both parsers read them; they must agree."""
    first = {
        str(e["UID"]): {
            "start": e.decoded("DTSTART"),
            "end": e.decoded("DTEND") if "DTEND" in e else None,
            "status": str(e["STATUS"]),
            "sequence": int(e["SEQUENCE"]),
            "summary": str(e["SUMMARY"]),
        }
        for e in icalendar.Calendar.from_ical(text).walk("VEVENT")
    }
    parsed = vobject.readOne(text)
    second = {
        v.uid.value: {
            "start": v.dtstart.value,
            "end": v.dtend.value if hasattr(v, "dtend") else None,
            "status": v.status.value,
            "sequence": int(v.sequence.value),
            "summary": v.summary.value,
        }
        for v in parsed.contents.get("vevent", [])
    }
    assert first == second
    return first


def test_a_booking_ics_follows_its_reschedules_and_cancellation(api: Api) -> None:
    uid = factories.service(api, name="Consultation", default_duration=45)["service_uid"]
    api.put("/v1/bot-users/ana", {"name": "Ana"})
    start = "2031-03-30T08:15:00Z"  # the Monday after Europe's spring change
    booking = factories.booking(api, service_uid=uid, bot_user_ns="ana", start_time=start)
    ((ical_uid, first),) = events_by_uid(ics_of(api, booking["id"])).items()
    assert first == {
        "start": datetime(2031, 3, 30, 8, 15, tzinfo=UTC),
        "end": datetime(2031, 3, 30, 9, 0, tzinfo=UTC),
        "status": "TENTATIVE",
        "sequence": 0,
        "summary": "Consultation: Ana",
    }
    assert first["start"].utcoffset().total_seconds() == 0

    api.post(f"/v1/bookings/{booking['id']}/confirm")
    moved = api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        {"start_time": "2031-04-02T14:00:00+02:00", "duration": 60, "reason": "later"},
    )
    assert moved.status_code == 200, moved.text
    after = events_by_uid(ics_of(api, booking["id"]))
    assert list(after) == [ical_uid]  # the same event, updated
    assert after[ical_uid]["start"] == datetime(2031, 4, 2, 12, 0, tzinfo=UTC)
    assert after[ical_uid]["end"] == datetime(2031, 4, 2, 13, 0, tzinfo=UTC)
    assert after[ical_uid]["status"] == "CONFIRMED"
    assert after[ical_uid]["sequence"] == 1

    api.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "cannot come"})
    cancelled = events_by_uid(ics_of(api, booking["id"]))[ical_uid]
    assert cancelled["status"] == "CANCELLED" and cancelled["sequence"] == 2


def test_a_zero_minute_booking_has_no_dtend(api: Api) -> None:
    uid = factories.service(api, default_duration=0)["service_uid"]
    booking = factories.booking(api, service_uid=uid, start_time="2031-01-02T10:00:00Z")
    (event,) = events_by_uid(ics_of(api, booking["id"])).values()
    assert event["end"] is None


def test_booking_events_carry_their_ics_url(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    booking = factories.booking(api, service_uid=uid)
    (created,) = factories.events(api, booking_id=booking["id"])
    assert created["data"]["ics_url"] == f"/v1/bookings/{booking['id']}.ics"
    assert api.get(created["data"]["ics_url"]).status_code == 200


def test_another_workspace_booking_ics_is_a_404(api: Api, make_workspace: Any) -> None:
    uid = factories.service(api)["service_uid"]
    booking = factories.booking(api, service_uid=uid)
    other = make_workspace()
    assert other.get(f"/v1/bookings/{booking['id']}.ics").status_code == 404
    assert api.get("/v1/bookings/999999999.ics").status_code == 404


def test_the_feed_lists_the_workspace_bookings_without_an_api_key(
    api: Api, make_workspace: Any
) -> None:
    assert api.get("/v1/calendar-feed").json() == {"active": False, "created_at": None}
    uid = factories.service(api, name="Haircut")["service_uid"]
    kept = factories.booking(api, service_uid=uid, start_time="2031-05-01T09:00:00Z")
    dropped = factories.booking(api, service_uid=uid, start_time="2031-05-01T11:00:00Z")
    api.post(f"/v1/bookings/{dropped['id']}/cancel", {"reason": "ill"})
    other = make_workspace()
    other_uid = factories.service(other)["service_uid"]
    factories.booking(other, service_uid=other_uid, start_time="2031-05-01T09:00:00Z")

    issued = api.post("/v1/calendar-feed")
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert url.endswith(f"/v1/feeds/{issued.json()['token']}.ics")
    assert api.get("/v1/calendar-feed").json()["active"] is True

    feed = api.client.get(url)  # no Authorization header: the token is the credential
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "X-WR-CALNAME" in feed.text
    events = events_by_uid(feed.text)
    assert len(events) == 2
    by_start = {e["start"]: e for e in events.values()}
    assert by_start[datetime(2031, 5, 1, 9, 0, tzinfo=UTC)]["status"] == "TENTATIVE"
    cancelled = by_start[datetime(2031, 5, 1, 11, 0, tzinfo=UTC)]
    assert cancelled["status"] == "CANCELLED" and cancelled["sequence"] == 1
    # The same UID as the booking's own .ics.
    assert set(events_by_uid(ics_of(api, kept["id"]))) <= set(events)

    # A new token replaces the old one; revoking ends it.
    again = api.post("/v1/calendar-feed").json()["url"]
    assert api.client.get(url).status_code == 401
    assert api.client.get(again).status_code == 200
    assert api.delete("/v1/calendar-feed").status_code == 204
    revoked = api.client.get(again)
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "unauthorized"
    assert api.get("/v1/calendar-feed").json()["active"] is False


# Every C0 control but tab, LF and CR; DEL; every C1 control. U+0000 is refused on input already.
CONTROLS = "".join(
    chr(c) for c in [*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
)
FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def test_control_characters_never_reach_the_calendar(api: Api) -> None:
    # RFC 5545: no control character in a TEXT value but tab; line breaks only as "\n".
    svc = factories.service(api, name=f"Hair{CONTROLS}cut")
    assert api.put("/v1/bot-users/ctl", {"name": "A\x1bn\x9ba\x85"}).status_code == 200
    booking = factories.booking(
        api,
        service_uid=svc["service_uid"],
        bot_user_ns="ctl",
        location="Room\x07 4\x9b",
        notes=f"first line\r\nsecond\x0b line\ttab\x7f{CONTROLS}\rthird",
        metadata='{"note": "\\u0007bell\\u001b"}',
    )

    async def rename(session: AsyncSession) -> None:
        await workspaces.update_workspace(
            session, api.workspace_id, WorkspaceUpdate(name=f"Salon\x1b\x08 {CONTROLS}North")
        )

    api.run(rename)
    feed = api.post("/v1/calendar-feed").json()["url"]
    for text in (ics_of(api, booking["id"]), api.client.get(feed).text):
        lines = text.split("\r\n")
        assert not [line for line in lines if FORBIDDEN.search(line)], text
        events_by_uid(text)  # vobject reads it too, and agrees
        [event] = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert str(event["SUMMARY"]) == "Haircut: Ana"
        assert str(event["LOCATION"]) == "Room 4"
        assert str(event["DESCRIPTION"]) == "first line\nsecond line\ttab\nthird"
    calendar = icalendar.Calendar.from_ical(api.client.get(feed).text)
    assert str(calendar["X-WR-CALNAME"]) == "bookd: Salon North"
