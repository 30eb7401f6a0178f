"""The console in a real browser: Playwright driving Debian's Chromium against a real `bookd serve`.

One walk through what an admin does on a first day (acceptance list of the console's issue), each
step checked on what the page shows. Screenshots of the main pages are taken at desktop and phone
widths; `make screenshots` (BOOKD_WRITE_SCREENSHOTS=1) writes them to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser import CHROMIUM, new_account, sign_in
from tests.conftest import IN_CI
from tests.webhooks.receiver import Receiver, start_receiver

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TZ = "Europe/Berlin"

if not CHROMIUM.exists():
    message = (
        f"NO CHROMIUM at {CHROMIUM}: the console's browser tests are NOT run "
        "(apt-get install chromium; .ci/run installs it)"
    )
    if IN_CI:
        raise pytest.UsageError(message + " (CI=true makes this a failure)")
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from tests import databases  # noqa: E402
from tests.processes import bookd_env, serving  # noqa: E402


@dataclass(frozen=True)
class Served:
    base: str
    """The server's base URL."""
    url: str
    """Its database."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `bookd serve` for this module's tests, on a migrated database; each test signs in to a
    workspace of its own (nothing crosses workspaces). The first day's webhook receiver listens on
    127.0.0.1: private targets are allowed (no other test here has a trigger)."""
    folder = tmp_path_factory.mktemp("console")
    url = databases.new_sqlite(folder / "bookd.db")
    with serving(folder, bookd_env(url, BOOKD_WEBHOOK_ALLOW_PRIVATE="1")) as base:
        yield Served(base, url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = start_receiver()
    yield receiver
    receiver.close()


def local_input(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


# The words of an element's text that the layout broke over two lines (a range over a word has
# one box per line it is laid out on).
BROKEN_WORDS = """(root) => {
  const broken = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      if (range.getClientRects().length > 1) broken.push(word[0]);
    }
  }
  return broken;
}"""


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_an_admins_first_day(
    tmp_path: Path, served: Served, receiver: Receiver, new_page: Callable[..., Page]
) -> None:
    base = served.base
    admin = new_account(served.url, "Praxis Sonnenschein", timezone=TZ, email="owner@example.com")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    tz = ZoneInfo(TZ)
    day = (datetime.now(tz) + timedelta(days=3)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )

    page = new_page(base_url=base, viewport=DESKTOP)

    # Sign in.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/"))
    expect(page.locator("h1")).to_have_text("Sign in")
    shoot(page, shots, "sign-in-desktop")
    sign_in(page, "owner@example.com", "wrong password")
    expect(page.locator(".error.banner")).to_contain_text("not right")
    page.fill("#password", str(admin.password))
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("header")).to_contain_text(f"Times in {TZ}")

    # A service with two reminders and a follow-up; a 101-character name first.
    page.click("nav >> text=Booking Services")
    expect(page.locator("#service-count")).to_contain_text("0 of 20")
    page.click("text=+ Booking Service")
    page.fill("#name", "x" * 101)
    page.fill("#service_uid", "consultation_30min")
    page.fill("#default_duration", "30")
    page.click("button:has-text('Save')")
    expect(page.locator("#name-error")).to_have_text("String should have at most 100 characters")
    expect(page.locator("#service_uid")).to_have_value("consultation_30min")
    page.fill("#name", "Consultation")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Consultation")
    expect(page.locator("#notice")).to_have_text("Booking service 'Consultation' created.")
    # The UID reads as a fixed value, not as a field to edit.
    expect(page.locator("#service_uid")).to_have_text("consultation_30min")
    expect(page.locator("input#service_uid, input[readonly]")).to_have_count(0)
    # Availability: folded away until asked for; weekday hours only with "weekly hours".
    expect(page.locator("#availability-settings")).to_contain_text("No availability settings")
    expect(page.locator("#hours_monday")).to_be_hidden()
    page.locator("#availability-edit summary").click()
    expect(page.locator("#open-always")).to_be_checked()
    expect(page.locator("#hours_monday")).to_be_hidden()
    page.check("#open-weekly")
    expect(page.locator("#hours_monday")).to_be_visible()
    page.check("#open-always")
    expect(page.locator("#hours_monday")).to_be_hidden()
    page.locator("#availability-edit summary").click()
    for plural, title, field, amount in (
        ("reminders", "See you tomorrow", "days", "1"),
        ("reminders", "In an hour", "hours", "1"),
        ("followups", "How was it?", "hours", "2"),
        ("followups", "Thank you", "minutes", "5"),
    ):
        section = page.locator(f"#{plural}")
        section.locator("summary", has_text="Add").click()
        page.fill(f"#{plural}-new-title", title)
        page.fill(f"#{plural}-new-{field}", amount)
        section.locator("button", has_text="Add").click()
        expect(page.locator(f"#{plural}")).to_contain_text(title)
        expect(page.locator("#notice")).to_contain_text("added.")
    expect(page.locator("#reminders h2")).to_contain_text("2 of 5")
    expect(page.locator("#followups h2")).to_contain_text("2 of 5")
    # Offsets as people say them.
    offsets = page.locator("td[data-label=Offset]")
    expect(offsets).to_have_text(
        ["1 day before the start", "1 h before the start", "2 h after the end",
         "5 min after the end"]
    )  # fmt: skip
    page.fill("#preview_at", local_input(day))
    page.click("button:has-text('Preview')")
    expect(page.locator("#preview-result")).to_contain_text(day.strftime("%H:%M"))
    expect(page.locator("#preview")).to_contain_text(
        f"reminder 1 (See you tomorrow) at {(day - timedelta(days=1)).strftime('%a %d %b %Y %H:%M')}"
    )
    shoot(page, shots, "service-desktop")
    page.click("nav >> text=Booking Services")
    expect(page.locator("#service-count")).to_contain_text("1 of 20")
    shoot(page, shots, "services-desktop")

    def new_booking(ns: str, start: datetime) -> str:
        page.click("nav >> text=Bookings")
        page.click("text=+ Booking")
        # One service picker; no "force" where no availability settings could refuse.
        expect(page.locator("select[name=service_uid]")).to_have_count(1)
        expect(page.locator("#force")).to_have_count(0)
        page.select_option("#service_uid", "consultation_30min")
        page.fill("#bot_user_ns", ns)
        page.fill("#start_time", local_input(start))
        page.click("button:has-text('Create booking')")
        expect(page.locator("h1")).to_contain_text("pending")
        expect(page.locator("#notice")).to_contain_text("created.")
        booking_url = page.url
        expect(page.locator("#start-time")).to_contain_text(start.strftime("%a %d %b %Y %H:%M"))
        return booking_url

    def words_broken(selector: str) -> list[str]:
        """The words of the element's text that the layout broke over two lines."""
        return page.locator(selector).evaluate(BROKEN_WORDS)  # type: ignore[no-any-return]

    def message(kind: str, sequence: int) -> object:
        return page.locator(f"li.message[data-kind={kind}][data-sequence='{sequence}']")

    # One booking: confirm, reschedule (with a reason), cancel (with a reason).
    first = new_booking("whatsapp:+4915112345678", day)
    expect(message("reminder", 1)).to_contain_text("pending")
    expect(message("reminder", 2)).to_contain_text("pending")
    # Follow-ups come at completion; until then they show as planned.
    end = day + timedelta(minutes=30)
    expect(message("followup", 1)).to_contain_text(
        f"if completed: at {(end + timedelta(hours=2)).strftime('%a %d %b %Y %H:%M')}"
    )
    expect(message("followup", 2)).to_contain_text("planned")
    page.click("button:has-text('Confirm')")
    expect(page.locator("h1")).to_contain_text("confirmed")
    expect(page.locator("#notice")).to_have_text("Booking confirmed.")
    page.locator("summary", has_text="Reschedule").click()
    page.fill("#rs-start_time", local_input(day + timedelta(days=1)))
    page.fill("#rs-reason", "The customer asked for Friday")
    page.click("form[action$='/reschedule'] button")
    expect(page.locator("#start-time")).to_contain_text(
        (day + timedelta(days=1)).strftime("%a %d %b %Y %H:%M")
    )
    expect(page.locator("dl.facts")).to_contain_text("The customer asked for Friday")
    expect(page.locator("#notice")).to_contain_text("Booking rescheduled")
    # The audit log in words, in the workspace's time, by name; no word broken.
    log = page.locator("#audit-log")
    moved = day + timedelta(days=1)
    expect(log).to_contain_text(
        f"start {day.strftime('%a %d %b %Y %H:%M')} → {moved.strftime('%a %d %b %Y %H:%M')}, "
        "reason “The customer asked for Friday”"
    )
    expect(log.locator("td[data-label=By]")).to_have_text(["owner@example.com"] * 3)
    expect(log).not_to_contain_text('{"')
    expect(log).not_to_contain_text(re.compile(r"\d{4}-\d\d-\d\dT"))  # no raw instants
    assert words_broken("#audit-log") == []
    shoot(page, shots, "booking-desktop")
    page.locator("summary", has_text="Cancel").click()
    page.fill("#cancel-reason", "No longer needed")
    page.click("button:has-text('Cancel booking')")
    expect(page.locator("h1")).to_contain_text("cancelled")
    expect(page.locator("#notice")).to_contain_text("Booking cancelled")
    expect(page.locator("li.message[data-kind=followup]")).to_have_count(0)
    expect(message("reminder", 1)).to_contain_text("cancelled")
    expect(message("reminder", 2)).to_contain_text("cancelled")
    expect(page.locator("dl.facts")).to_contain_text("No longer needed")
    expect(page.locator("button:has-text('Confirm')")).to_have_count(0)

    # Another: complete, then rate.
    new_booking("telegram:42", day + timedelta(hours=2))
    page.click("button:has-text('Mark completed')")
    expect(page.locator("h1")).to_contain_text("completed")
    expect(page.locator("#notice")).to_contain_text("follow-ups are scheduled")
    expect(message("reminder", 1)).to_contain_text("skipped")
    expect(message("followup", 1)).to_contain_text("pending")
    expect(page.locator("li.message.planned")).to_have_count(0)
    page.locator("summary", has_text="Rating").click()
    page.fill("#rate-rating", "5")
    page.click("button:has-text('Save rating')")
    expect(page.locator("#rating")).to_have_text("5")
    expect(page.locator("#audit-log")).to_contain_text("rating — → 5")

    # A booking made with the API key: the log names the key.
    soon = (datetime.now(tz) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    made = httpx.post(
        f"{base}/v1/bookings",
        headers={"Authorization": f"Bearer {admin.api_key}"},
        json={"service_uid": "consultation_30min", "bot_user_ns": "sms:+4930123",
              "start_time": soon.isoformat()},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    page.goto(f"/bookings/{made.json()['id']}")
    expect(page.locator("#audit-log td[data-label=By]")).to_have_text(["API key “default”"])

    # The list in start-time order (the second booking starts first), with end and length.
    page.click("nav >> text=Bookings")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("sms:+4930123")
    expect(rows.nth(1)).to_contain_text("telegram:42")
    expect(rows.nth(1)).to_contain_text(
        f"{(day + timedelta(hours=2, minutes=30)).strftime('%H:%M')} (30 min)"
    )
    expect(rows.nth(2)).to_contain_text("whatsapp:+4915112345678")
    page.select_option("#f-status", "completed")
    page.click("button:has-text('Filter')")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("telegram:42")
    page.goto("/bookings")
    shoot(page, shots, "bookings-desktop")
    page.click("text=Week calendar")
    page.goto(f"/bookings?view=week&week={day.date().isoformat()}")
    expect(page.locator(".week")).to_contain_text("telegram:42")
    shoot(page, shots, "week-desktop")

    # A trigger, its secret shown once, a test event delivered and logged.
    page.click("nav >> text=Triggers")
    page.click("text=+ Trigger")
    page.fill("#name", "CRM")
    page.fill("#url", receiver.url)
    page.click("button:has-text('Create trigger')")
    expect(page.locator("#trigger-secret")).to_contain_text("whsec_")
    page.click("button:has-text('Send a test event')")
    expect(page.locator("#trigger-secret")).to_have_count(0)
    delivered = page.locator("tr.delivery[data-status=succeeded]")
    for _ in range(60):
        if delivered.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(delivered).to_contain_text("TRIGGER_TEST")
    delivered.locator("summary").click()
    expect(delivered).to_contain_text("200 ok")
    expect(delivered.locator("button", has_text="Retry")).to_have_count(0)
    assert any("TRIGGER_TEST" in r.body for r in receiver.requests)
    shoot(page, shots, "trigger-desktop")
    page.click("nav >> text=Triggers")
    expect(page.locator("td.health-success")).to_contain_text(datetime.now(tz).strftime("%a"))
    expect(page.locator("td.health-failure")).to_have_text("none")

    page.goto("/")
    expect(page.locator("#scheduler-status")).to_contain_text("running")
    # The rest of today is upcoming; a follow-up due within the hour shows as planned.
    expect(page.locator("#upcoming")).to_contain_text("sms:+4930123")
    expect(page.locator("#soon li.planned")).to_contain_text("“Thank you”")
    shoot(page, shots, "overview-desktop")
    page.goto("/settings")
    expect(page.locator("#users")).to_contain_text("owner@example.com")
    # The timezone is picked from the IANA names as one types.
    expect(page.locator("#timezone")).to_have_attribute("list", "timezones")
    buenos_aires = page.locator("#timezones option[value='America/Argentina/Buenos_Aires']")
    expect(buenos_aires).to_have_count(1)
    page.fill("#timezone", TZ)
    page.click("form[action='/settings'] button")
    expect(page.locator("#notice")).to_have_text("Workspace settings saved.")
    shoot(page, shots, "settings-desktop")

    # The same pages at phone width, in the same session.
    small = new_page(base_url=base, viewport=PHONE, storage_state=page.context.storage_state())
    for name, path in (
        ("overview", "/"),
        ("services", "/services"),
        ("service", "/services/consultation_30min"),
        ("bookings", "/bookings"),
        ("booking", first.removeprefix(base)),
        ("trigger", page.url.removeprefix(base)),
    ):
        small.goto(path)
        expect(small.locator("h1")).to_be_visible()
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (name, width)  # no sideways scrolling
        shoot(small, shots, f"{name}-phone")
    small.context.close()

    # Sign out: the session is gone.
    page.click("button:has-text('Sign out')")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto("/services")
    expect(page).to_have_url(re.compile(r"/sign-in"))

    assert len(list(shots.glob("*.png"))) >= 15
    if os.environ.get("BOOKD_WRITE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, SCREENSHOTS / shot.name)


def test_the_pages_work_without_javascript(served: Served, new_page: Callable[..., Page]) -> None:
    """Forms post and redirect: with script turned off an admin still does the whole job."""
    base = served.base
    admin = new_account(served.url, "No script", email="plain@example.com")
    start = (datetime.now(ZoneInfo("UTC")) + timedelta(days=2)).replace(second=0, microsecond=0)
    page = new_page(base_url=base, java_script_enabled=False)
    page.goto("/sign-in")
    sign_in(page, "plain@example.com", str(admin.password))
    expect(page.locator("h1")).to_have_text("Overview")
    page.goto("/services/new")
    page.fill("#name", "Haircut")
    page.fill("#service_uid", "haircut")
    page.fill("#default_duration", "45")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Haircut")
    page.locator("#reminders summary", has_text="Add").click()
    page.fill("#reminders-new-title", "Soon")
    page.fill("#reminders-new-hours", "3")
    page.click("#reminders button:has-text('Add')")
    expect(page.locator("#reminders")).to_contain_text("Soon")
    page.goto("/bookings/new")
    page.fill("#bot_user_ns", "sms:+15550100")
    page.fill("#start_time", local_input(start))
    page.click("button:has-text('Create booking')")
    expect(page.locator("h1")).to_contain_text("pending")
    expect(page.locator("li.message[data-kind=reminder]")).to_contain_text("pending")
    page.click("button:has-text('Confirm')")
    expect(page.locator("h1")).to_contain_text("confirmed")
    page.click("button:has-text('Delete')")  # no confirmation dialog without script
    expect(page.locator("h1")).to_have_text("Bookings")
    expect(page.locator("main")).to_contain_text("No bookings match.")


def test_opening_hours_offer_free_times_until_they_are_taken(
    tmp_path: Path, served: Served, new_page: Callable[..., Page]
) -> None:
    """Opening hours set on a service's page; the booking form offers the free times; one taken
    (capacity 1) is no longer offered, and typing it in is refused until forced."""
    base = served.base
    admin = new_account(served.url, "Massage", timezone=TZ, email="hours@example.com")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    day = (datetime.now(ZoneInfo(TZ)) + timedelta(days=3)).date()
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    page = new_page(base_url=base, viewport=DESKTOP)
    page.goto("/sign-in")
    sign_in(page, "hours@example.com", str(admin.password))
    expect(page.locator("h1")).to_have_text("Overview")
    page.goto("/services/new")
    page.fill("#name", "Massage")
    page.fill("#service_uid", "massage_60")
    page.fill("#default_duration", "60")
    page.click("button:has-text('Save')")
    expect(page.locator("#availability-settings")).to_contain_text("No availability settings")

    # Opening hours 09:00-12:00 every day, one place; a backwards range first.
    page.locator("#availability-edit summary").click()
    page.check("#open-weekly")
    for weekday in days:
        page.fill(f"#hours_{weekday}", "09:00-12:00")
    page.fill("#hours_monday", "12:00-09:00")
    page.fill("#capacity", "1")
    page.click("button:has-text('Save availability')")
    expect(page.locator("#hours_monday-error")).to_contain_text("a range ends after it starts")
    page.fill("#hours_monday", "09:00-12:00")
    page.click("button:has-text('Save availability')")
    settings = page.locator("#availability-settings")
    expect(settings).to_contain_text("Monday: 09:00-12:00")
    expect(page.locator("#availability")).to_contain_text(f"wall-clock times in {TZ}")
    expect(page.locator("#availability-capacity")).to_have_text("1")

    # The booking form offers the day's free times.
    page.click("nav >> text=Bookings")
    page.click("text=+ Booking")
    page.select_option("#service_uid", "massage_60")
    page.fill("#slot-day", day.isoformat())
    page.click("button:has-text('Show free times')")
    slots = page.locator("#slots")
    for hour in ("09:00", "10:00", "11:00"):
        expect(slots).to_contain_text(hour)
    shoot(page, shots, "booking-new-desktop")
    slots.locator("label", has_text="10:00").locator("input").check()
    page.fill("#bot_user_ns", "sms:+15550111")
    page.click("button:has-text('Create booking')")
    expect(page.locator("h1")).to_contain_text("pending")
    expect(page.locator("#start-time")).to_contain_text(f"{day.strftime('%a %d %b %Y')} 10:00")

    # Taken: no longer offered, and typed in it is refused with the reason, until forced.
    page.goto(f"/bookings/new?service_uid=massage_60&day={day.isoformat()}")
    expect(slots).to_contain_text("09:00")
    expect(slots).to_contain_text("11:00")
    expect(slots).not_to_contain_text("10:00")
    page.fill("#bot_user_ns", "sms:+15550112")
    page.fill("#start_time", f"{day.isoformat()}T10:00")
    page.click("button:has-text('Create booking')")
    expect(page.locator("#start_time-error")).to_have_text(
        "the time is fully booked (capacity 1, buffers included)"
    )
    page.check("#force")  # offered: the service's settings can refuse
    page.click("button:has-text('Create booking')")
    expect(page.locator("h1")).to_contain_text("pending")
    expect(page.locator("#audit-log")).to_contain_text("fully_booked")

    if os.environ.get("BOOKD_WRITE_SCREENSHOTS"):
        for shot in shots.glob("*.png"):
            shutil.copy(shot, SCREENSHOTS / shot.name)


def test_the_analytics_page(tmp_path: Path, served: Served, new_page: Callable[..., Page]) -> None:
    """A month of bookings made through the API; the Analytics page shows their figures and
    charts, by week and by day, at desktop and phone widths."""
    base = served.base
    admin = new_account(served.url, "Studio", timezone=TZ, email="numbers@example.com")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    tz = ZoneInfo(TZ)
    first = (datetime.now(tz) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    reasons = ["Feeling ill", "feeling  ILL", "Found another studio", "Too expensive"]
    api = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {admin.api_key}"}, timeout=30
    )
    for uid, name in (("yoga_60", "Yoga"), ("massage_30", "Massage")):
        made = api.post(
            "/v1/services", json={"service_uid": uid, "name": name, "default_duration": 60}
        )
        assert made.status_code == 201, made.text
    for i in range(40):
        start = first + timedelta(days=i % 28, hours=i % 8)
        booking = api.post(
            "/v1/bookings",
            json={"service_uid": ("yoga_60", "massage_30")[i % 2], "bot_user_ns": f"tg:{i}",
                  "start_time": start.isoformat()},
        ).json()  # fmt: skip
        path = f"/v1/bookings/{booking['id']}"
        if i % 5 == 0:
            assert api.post(f"{path}/cancel", json={"reason": reasons[i % 4]}).status_code == 200
        elif i % 5 in (1, 2):
            assert api.post(f"{path}/complete").status_code == 200
            assert api.post(f"{path}/rating", json={"rating": 3 + i % 3}).status_code == 200
        elif i % 5 == 3:
            assert api.post(f"{path}/no-show").status_code == 200
    api.close()

    page = new_page(base_url=base, viewport=DESKTOP)
    page.goto("/sign-in")
    sign_in(page, "numbers@example.com", str(admin.password))
    page.click("nav >> text=Analytics")
    expect(page.locator("h1")).to_have_text("Analytics")
    last = (first + timedelta(days=30)).date().isoformat()
    page.fill("#a-from", first.date().isoformat())
    page.fill("#a-to", last)
    page.click("button:has-text('Show')")
    expect(page.locator("#sum-bookings")).to_contain_text("40 starting in the range")
    expect(page.locator("#reasons")).to_contain_text("Feeling ill (")
    expect(page.locator("#sum-rating")).to_contain_text("average of 16")
    charts = page.locator(".charts img")
    expect(charts).to_have_count(5)
    for i in range(5):  # every chart drawn: an image the browser could decode
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
        )
    expect(page.locator("#periods tbody tr")).to_have_count(5)  # the weeks the month spans
    shoot(page, shots, "analytics-desktop")
    page.select_option("#a-service", "yoga_60")
    page.select_option("#a-granularity", "day")
    page.click("button:has-text('Show')")
    expect(page.locator("#sum-bookings")).to_contain_text("20 starting in the range")
    expect(page.locator("#periods tbody tr").first).to_be_visible()

    small = new_page(base_url=base, viewport=PHONE, storage_state=page.context.storage_state())
    small.goto(f"/analytics?from={first.date().isoformat()}&to={last}")
    expect(small.locator("#sum-bookings")).to_contain_text("40 starting in the range")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width  # no sideways scrolling
    shoot(small, shots, "analytics-phone")
    small.context.close()

    if os.environ.get("BOOKD_WRITE_SCREENSHOTS"):
        for shot in shots.glob("*.png"):
            shutil.copy(shot, SCREENSHOTS / shot.name)
