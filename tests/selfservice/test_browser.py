"""The self-service page in a real browser at a phone's width (390 px), script turned off: Playwright
driving Debian's Chromium against a real `bookd serve`, whose scheduler sends the reminder that
carries the link. `make screenshots` (BOOKD_WRITE_SCREENSHOTS=1) writes the screenshots to
docs/screenshots/."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Page, expect

from bookd.config import LOCAL_URL
from tests.browser import new_account
from tests.console.test_browser import PHONE, SCREENSHOTS, shoot
from tests.processes import bookd_env, serving

TZ = "Europe/Berlin"
CUSTOMER = "whatsapp:+4915112345678"
LINK = re.compile(re.escape(LOCAL_URL) + r"(/my/\d+\?t=bkc_[A-Za-z0-9_-]+)")


def reminder_link(api: httpx.Client, booking_id: int) -> str:
    """The link in the booking's REMINDER_SENDING event, once the scheduler has sent it."""
    deadline = time.monotonic() + 20
    while True:
        events = api.get(
            "/v1/events", params={"type": "REMINDER_SENDING", "booking_id": booking_id}
        ).json()["data"]
        if events:
            found = LINK.search(events[0]["data"]["reminder"]["description"])
            assert found, events[0]["data"]["reminder"]
            return found.group(1)
        assert time.monotonic() < deadline, "the reminder was not sent"
        time.sleep(0.2)


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width


def next_weekday(after: datetime) -> datetime:
    day = after + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_customer_manages_a_booking_on_a_phone(
    tmp_path: Path, scratch_sqlite: str, new_page: Callable[..., Page]
) -> None:
    env = bookd_env(scratch_sqlite)
    workspace = new_account(scratch_sqlite, "Praxis Sonnenschein", timezone=TZ)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    tz = ZoneInfo(TZ)

    with serving(tmp_path, env) as base:
        api = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {workspace.api_key}"}, timeout=30
        )
        ok(api.post("/v1/services", json={
            "service_uid": "consultation", "name": "Consultation", "default_duration": 60,
            "customer_cutoff_minutes": 1440,
        }), 201)  # fmt: skip
        weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
        hours = {day: [{"start": "09:00", "end": "17:00"}] for day in weekdays}
        ok(api.put("/v1/services/consultation/availability", json={"weekly_hours": hours}))
        ok(api.post("/v1/services/consultation/reminders", json={
            "title": "Your appointment in 3 days",
            "description": "[SERVICE] at [DATETIME]. Move or cancel it here: [MANAGE_URL]",
            "hours": 72,
        }), 201)  # fmt: skip
        ok(api.post("/v1/services/consultation/followups", json={
            "title": "How was it?", "description": "Rate your visit: [MANAGE_URL]", "days": 1,
        }), 201)  # fmt: skip
        ok(api.put(f"/v1/bot-users/{CUSTOMER}", json={"name": "Anna", "timezone": TZ}))
        # The reminder, 72 hours before the start, falls due a few seconds from now.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=72, seconds=4)
        booking = ok(api.post("/v1/bookings", json={
            "service_uid": "consultation", "bot_user_ns": CUSTOMER, "start_time": start.isoformat(),
            "location": "Praxis Sonnenschein, Lindenstraße 5, room 2", "force": True,
        }), 201)  # fmt: skip
        link = reminder_link(api, booking["id"])

        # No script: the page is forms and links only.
        page = new_page(base_url=base, viewport=PHONE, java_script_enabled=False, locale="en-GB")

        page.goto(link)
        own = f"{base}/my/{booking['id']}"
        expect(page).to_have_url(own)  # the token left the address for a cookie
        expect(page.locator("#workspace")).to_have_text("Praxis Sonnenschein")
        expect(page.locator("h1")).to_have_text("Consultation")
        local = start.astimezone(tz)
        expect(page.locator("#when")).to_contain_text(local.strftime("%a %d %b %Y, %H:%M"))
        expect(page.locator("#location")).to_contain_text("Lindenstraße 5")
        expect(page.get_by_text(f"Times in {TZ}.")).to_be_visible()
        no_sideways_scrolling(page)
        shoot(page, shots, "self-service-phone")

        # Move it to 10:00 on a weekday after its own day.
        target = next_weekday(local + timedelta(days=1))
        page.fill("#day", target.date().isoformat())
        page.click("form.day button")
        expect(page.locator("#slots legend")).to_contain_text(target.strftime("%A %d %B %Y"))
        expect(page.locator("#slots input[type=radio]")).to_have_count(8)  # 09:00 to 16:00
        no_sideways_scrolling(page)
        page.click("button:has-text('Move my booking')")  # nothing picked: said next to the times
        expect(page.locator("#start_time-error")).to_have_text("Pick one of the free times.")
        page.goto(f"{own}?day={target.date().isoformat()}")
        page.check("#slots label:has-text('10:00') input")
        page.fill("#reschedule-reason", "I have to work that day")
        shoot(page, shots, "self-service-move-phone")
        page.click("button:has-text('Move my booking')")
        expect(page.locator("#notice")).to_have_text("Your booking is moved to the new time.")
        expect(page.locator("#when")).to_contain_text(target.strftime("%a %d %b %Y, 10:00"))
        moved = ok(api.get(f"/v1/bookings/{booking['id']}"))
        assert moved["reschedule_reason"] == "I have to work that day"

        # Cancelling needs a reason; the service's own rule says so next to the field.
        page.click("button:has-text('Cancel my booking')")
        expect(page.locator("#cancel-reason-error")).to_be_visible()
        page.fill("#cancel-reason", "I am ill")
        page.click("button:has-text('Cancel my booking')")
        expect(page.locator("#notice")).to_have_text("Your booking is cancelled.")
        expect(page.locator("#status")).to_have_text("Cancelled")
        expect(page.locator("#nothing")).to_be_visible()

        # A visit that took place is rated from the same link (the same customer).
        earlier = ok(api.post("/v1/bookings", json={
            "service_uid": "consultation", "bot_user_ns": CUSTOMER, "force": True,
            "start_time": (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat(),
        }), 201)  # fmt: skip
        ok(api.post(f"/v1/bookings/{earlier['id']}/complete"))
        page.goto(f"/my/{earlier['id']}")
        expect(page.locator("#rating-h")).to_have_text("How was it?")
        page.check("fieldset.stars label:has-text('4') input")
        page.click("button:has-text('Send my rating')")
        expect(page.locator("#notice")).to_have_text("Thank you for your rating.")
        expect(page.locator("#rating")).to_have_text("4 of 5")
        no_sideways_scrolling(page)
        shoot(page, shots, "self-service-rated-phone")

        # Another bot user's booking is not there for this link.
        other = ok(api.post("/v1/bookings", json={
            "service_uid": "consultation", "bot_user_ns": "telegram:42", "force": True,
            "start_time": (start + timedelta(days=7)).isoformat(),
        }), 201)  # fmt: skip
        assert page.goto(f"/my/{other['id']}").status == 404
        expect(page.locator("#refusal")).to_have_text(
            "There is no booking of yours at this address."
        )

        # Revoked: the next request is refused, in the same browser.
        ok(api.post("/v1/customer-tokens/revoke", json={"bot_user_ns": CUSTOMER}))
        assert page.goto(f"/my/{earlier['id']}").status == 401
        expect(page.locator("#refusal")).to_contain_text("This link has expired or was withdrawn")
        page.goto(link)
        expect(page.locator("#refusal")).to_contain_text("This link has expired or was withdrawn")
        page.context.close()
        api.close()

    assert len(list(shots.glob("*.png"))) == 3
    if os.environ.get("BOOKD_WRITE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, SCREENSHOTS / shot.name)
