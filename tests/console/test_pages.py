"""Settings, triggers and the overview through their forms, checked on the page and through the
API (the same data, seen from the other side)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.webhooks.models import Delivery, Trigger
from tests import factories
from tests.conftest import Api
from tests.console.support import browser, signed_in
from tests.console.test_forms import api_message, error_next_to

HOOK_URL = "https://1.1.1.1/bookd-console-pages"


def test_workspace_settings_and_api_keys(api: Api) -> None:
    b = signed_in(api)
    bad = b.post("/settings", {"name": "Shop", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "unknown timezone 'Mars/Olympus'" in error_next_to(bad.text, "timezone")
    assert b.post("/settings", {"name": "Shop", "timezone": "America/New_York"}).status_code == 303
    page = b.get("/").text
    assert "Times in America/New_York" in page
    assert re.search(r"\d\d:\d\d E[SD]T", page)  # the overview's clock, in the zone, named

    created = b.post("/settings/api-keys", {"name": "crm"})
    assert created.status_code == 201
    key = re.search(r'id="new-api-key">([^<]+)<', created.text)
    assert key
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    assert api.client.get("/v1/services", headers=headers).status_code == 200
    later = b.get("/settings").text
    assert key.group(1) not in later  # shown once
    key_id = re.findall(r'action="/settings/api-keys/(\d+)/revoke"', later)[-1]
    assert b.post(f"/settings/api-keys/{key_id}/revoke").status_code == 303
    assert api.client.get("/v1/services", headers=headers).status_code == 401
    assert "revoked" in b.get("/settings").text


def test_admin_users_from_the_settings_page(api: Api) -> None:
    b = signed_in(api)
    short = b.post("/settings/users", {"email": "new@example.com", "password": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in error_next_to(short.text, "user-password")
    added = b.post("/settings/users", {"email": "New@Example.com", "password": ""})
    assert added.status_code == 201
    password = re.search(r'id="new-password">([^<]+)<', added.text)
    assert password
    other = browser(api.client)
    assert other.sign_in("new@example.com", password.group(1)).status_code == 303
    taken = b.post("/settings/users", {"email": "new@example.com", "password": ""})
    assert taken.status_code == 409
    assert error_next_to(taken.text, "user-email") == "this email is taken"

    ids = re.findall(r'action="/settings/users/(\d+)/delete"', b.get("/settings").text)
    assert len(ids) == 1  # the other admin; never oneself
    seen_by_other = re.findall(
        r'action="/settings/users/(\d+)/delete"', other.get("/settings").text
    )
    assert len(seen_by_other) == 1 and seen_by_other != ids  # the first admin, from the second
    assert b.post(f"/settings/users/{ids[0]}/delete").status_code == 303
    assert other.get("/").status_code == 303  # removed: its session ended with it


def test_triggers_from_the_console(api: Api) -> None:
    b = signed_in(api)
    try:
        refused = b.post("/triggers", {"name": "CRM", "url": "not a url"})
        assert refused.status_code == 422
        assert error_next_to(refused.text, "url") == api_message(
            api, "POST", "/v1/triggers", {"name": "CRM", "url": "not a url"}, "url"
        )
        created = b.request(
            "POST",
            "/triggers",
            data={
                "csrf_token": b.csrf,
                "name": "CRM",
                "url": HOOK_URL,
                "event_types": ["BOOKING_CREATED", "BOOKING_CANCELLED"],
                "status": "paused",
            },
        )
        assert created.status_code == 201
        assert re.search(r'id="trigger-secret">whsec_', created.text)
        (hook,) = api.get("/v1/triggers").json()["data"]
        assert hook["event_types"] == ["BOOKING_CREATED", "BOOKING_CANCELLED"]
        assert hook["status"] == "paused"
        page = b.get(f"/triggers/{hook['id']}").text
        assert "whsec_" not in page  # shown once
        assert b.post(f"/triggers/{hook['id']}/status").status_code == 303
        assert api.get(f"/v1/triggers/{hook['id']}").json()["status"] == "active"
        assert b.post(f"/triggers/{hook['id']}/status").status_code == 303
        assert api.get(f"/v1/triggers/{hook['id']}").json()["status"] == "paused"
        renamed = b.post(f"/triggers/{hook['id']}", {"name": "CRM 2", "url": HOOK_URL})
        assert renamed.status_code == 303
        after = api.get(f"/v1/triggers/{hook['id']}").json()
        assert (after["name"], after["event_types"]) == ("CRM 2", ["*"])

        assert b.post(f"/triggers/{hook['id']}/test").status_code == 303
        (delivery,) = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"]
        log = b.get(f"/triggers/{hook['id']}").text
        assert "TRIGGER_TEST" in log
        retry = f"/triggers/{hook['id']}/deliveries/{delivery['id']}/retry"
        assert b.post(retry).status_code == 303
        assert b.post(f"/triggers/{hook['id']}/delete").status_code == 303
        assert api.get("/v1/triggers").json()["data"] == []
    finally:
        for hook in api.get("/v1/triggers").json()["data"]:
            api.delete(f"/v1/triggers/{hook['id']}")


def test_the_overview_shows_today_and_the_next_hour(api: Api, make_workspace: Any) -> None:
    svc = factories.service(api, name="Checkup")
    factories.template(api, svc["service_uid"], title="Nearly there", minutes=20)
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=40)
    booking = factories.booking(
        api, service_uid=svc["service_uid"], bot_user_ns="soon", start_time=factories.iso(start)
    )
    later = factories.booking(api, service_uid=svc["service_uid"], bot_user_ns="later")
    page = signed_in(api).get("/").text
    assert f"/bookings/{booking['id']}" in page
    assert "“Nearly there” for" in page
    assert f"/bookings/{later['id']}" not in page  # 30 days away: neither today nor this week
    assert "Every trigger delivers." in page


def test_the_overview_names_the_triggers_that_fail(api: Api) -> None:
    """A trigger bookd disabled, or one with deliveries failed or being retried, with their count;
    not one whose deliveries wait for their first attempt."""
    healthy, failing, disabled = (
        api.post("/v1/triggers", {"name": name, "url": HOOK_URL}).json()
        for name in ("Fine", "Failing", "Off")
    )
    try:
        for hook in (healthy, failing, failing):
            assert api.post(f"/v1/triggers/{hook['id']}/test").status_code == 202

        async def fail(session: AsyncSession) -> None:
            await session.execute(
                update(Delivery).where(Delivery.trigger_id == failing["id"]).values(attempts=1)
            )
            await session.execute(
                update(Trigger)
                .where(Trigger.id == disabled["id"])
                .values(status="disabled", disabled_reason="gone for good")
            )

        api.run(fail)
        page = signed_in(api).get("/").text
        assert f'/triggers/{failing["id"]}">Failing</a>' in page
        assert "2 failed or retrying deliveries" in page
        assert f'/triggers/{disabled["id"]}">Off</a>' in page
        assert "(gone for good)" in page
        assert f'/triggers/{healthy["id"]}"' not in page
    finally:
        for hook in (healthy, failing, disabled):
            api.delete(f"/v1/triggers/{hook['id']}")


def test_calendar_feed_from_settings_and_a_bookings_ics(api: Api) -> None:
    svc = factories.service(api, name="Haircut")
    booking = factories.booking(api, service_uid=svc["service_uid"], bot_user_ns="sms:+15550123")
    b = signed_in(api)
    assert "No feed URL is active." in b.get("/settings").text
    issued = b.post("/settings/calendar-feed")
    assert issued.status_code == 201
    url = re.search(r'id="new-feed-url">([^<]+)<', issued.text)
    assert url
    feed = api.client.get(url.group(1))
    assert feed.status_code == 200
    assert "SUMMARY:Haircut: sms:+15550123" in feed.text
    later = b.get("/settings").text
    assert url.group(1) not in later and "since" in later  # shown once; active
    replaced = b.post("/settings/calendar-feed")
    assert api.client.get(url.group(1)).status_code == 401  # the old URL stops working
    new_url = re.search(r'id="new-feed-url">([^<]+)<', replaced.text)
    assert new_url
    assert b.post("/settings/calendar-feed/revoke").status_code == 303
    assert api.client.get(new_url.group(1)).status_code == 401
    assert "No feed URL is active." in b.get("/settings").text

    page = b.get(f"/bookings/{booking['id']}").text
    assert f'href="/bookings/{booking["id"]}.ics"' in page
    ics = b.get(f"/bookings/{booking['id']}.ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.text == api.get(f"/v1/bookings/{booking['id']}.ics").text


def test_the_bookings_list_pages_in_start_time_order(api: Api) -> None:
    """Later bookings made first: the list still runs by start time, page after page, every
    booking once; without a `from` it begins today, emptied it shows the past too."""
    svc = factories.service(api)
    count = 55  # more than a page
    made = [
        factories.booking(
            api, service_uid=svc["service_uid"], bot_user_ns=f"u{i}", start_time=factories.future(days=60 - i)
        )["id"]
        for i in range(count)
    ]  # fmt: skip
    b = signed_in(api)
    seen: list[int] = []
    path = "/bookings"
    while path:
        page = b.get(path).text
        seen += [int(i) for i in re.findall(r'<td data-label="#"><a href="/bookings/(\d+)"', page)]
        more = re.search(r'<a href="(/bookings\?[^"]+)">Next page', page)
        path = more.group(1).replace("&amp;", "&") if more else ""
    assert seen == made[::-1]  # the last made starts first
    assert "from 20" in b.get("/bookings").text
    assert "Every booking, in start-time order." in b.get("/bookings?from=").text
