"""The self-service page on both databases: the link's token exchanged for a cookie, the booking
shown in the customer's zone, each change the customer's policy allows made through the page with
the service's refusals shown next to their field, CSRF on every form, expiry and revocation at
the next request, and the headers of every answer."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bookd.kit.pages import CONTENT_SECURITY_POLICY
from tests import factories
from tests.conftest import Api, TestClock
from tests.console.support import Browser, browser
from tests.selfservice.support import follow, link, opened, page

# Between a booking's start and its end on the page.
DASH = "\N{EN DASH}"


def assert_page_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    # Stricter than the console's: no address of these pages reaches any Referer.
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def text_of(response: httpx.Response) -> str:
    """The page's words, tags dropped."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)).replace("&#39;", "'")


def error_near(response: httpx.Response, field_id: str) -> str:
    found = re.search(
        rf'<p class="error" id="{field_id}-error" role="alert">([^<]*)</p>', response.text
    )
    assert found, (field_id, response.text[-3000:])
    return found.group(1)


def new_booking(api: Api, uid: str, ns: str, **fields: Any) -> dict[str, Any]:
    return factories.booking(api, service_uid=uid, bot_user_ns=ns, **fields)


def ns() -> str:
    return f"alice-{secrets.token_hex(3)}"


def alices_page(api: Api) -> tuple[Browser, int, str]:
    """A browser that opened the link of a new bot user's pending booking: it, the booking's id
    and the bot user."""
    uid = factories.service(api)["service_uid"]
    alice = ns()
    booking_id: int = new_booking(api, uid, alice)["id"]
    b, _ = opened(api, booking_id, bot_user_ns=alice)
    return b, booking_id, alice


def test_the_link_becomes_a_cookie_and_the_page_shows_the_booking(api: Api) -> None:
    uid = factories.service(api, name="Haircut", default_duration=45)["service_uid"]
    alice = ns()
    assert api.put(f"/v1/bot-users/{alice}", {"timezone": "Europe/Berlin"}).status_code == 200
    start = datetime(2031, 7, 1, 8, 30, tzinfo=UTC)  # 10:30 in Berlin (CEST)
    booking = new_booking(api, uid, alice, start_time=factories.iso(start), location="Main St 1")
    customer = factories.customer(api, bot_user_ns=alice, ttl_seconds=3600)

    b = browser(api.client)
    exchanged = b.get(link(booking["id"], customer.key))
    assert exchanged.status_code == 303
    assert exchanged.headers["location"] == page(booking["id"])  # the token left the address
    assert_page_headers(exchanged)
    cookie = exchanged.headers["set-cookie"]
    assert cookie.startswith(f"bookd_customer={customer.key};")
    for part in ("HttpOnly", "Path=/my", "SameSite=lax"):
        assert part in cookie, cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 3500 < max_age <= 3600  # as long as the token lasts

    shown = b.get(page(booking["id"]))
    assert shown.status_code == 200
    assert_page_headers(shown)
    words = text_of(shown)
    assert "Haircut" in words
    assert f"Tue 01 Jul 2031, 10:30 CEST {DASH} 11:15" in words
    assert "Times in Europe/Berlin" in words
    assert "Main St 1" in words
    assert "Booked, not yet confirmed" in words
    assert customer.key not in shown.text  # only its hash-derived form token is
    for form in ("confirm", "reschedule", "cancel"):
        assert f'action="{page(booking["id"])}/{form}"' in shown.text
    assert "/rating" not in shown.text  # rated once it took place
    assert 'id="workspace">ws-' in shown.text


def test_the_workspace_timezone_without_the_bot_users(api: Api, make_workspace: Any) -> None:
    berlin = make_workspace(timezone="Europe/Berlin")
    uid = factories.service(berlin)["service_uid"]
    booking = new_booking(berlin, uid, "bob", start_time="2031-01-14T09:30:00Z")
    b, _ = opened(berlin, booking["id"], bot_user_ns="bob")
    words = text_of(b.get(page(booking["id"])))
    assert "Tue 14 Jan 2031, 10:30 CET" in words and "Times in Europe/Berlin" in words


def test_without_a_valid_link_nothing_is_shown(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    booking = new_booking(api, uid, ns())
    nobody = browser(api.client)
    plain = nobody.get(page(booking["id"]))
    assert plain.status_code == 401
    assert_page_headers(plain)
    assert "Open this page with the link from your message" in plain.text
    for token in ("bkc_" + secrets.token_urlsafe(32), api.key, "nonsense"):
        refused = nobody.get(link(booking["id"], token))
        assert refused.status_code == 401, token  # an API key is staff's, not a link's
        assert "This link has expired or was withdrawn" in refused.text
        assert "set-cookie" not in refused.headers
        assert_page_headers(refused)
    posted = nobody.post(page(booking["id"]) + "/cancel", {"reason": "x"})
    assert posted.status_code == 401
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "pending"


def test_expiry_and_revocation_take_effect_at_once(api: Api, clock: TestClock) -> None:
    uid = factories.service(api)["service_uid"]
    alice = ns()
    booking = new_booking(api, uid, alice)
    now = datetime.now(UTC).replace(microsecond=0)
    clock.set(now)
    b, customer = opened(api, booking["id"], bot_user_ns=alice, ttl_seconds=600)
    assert b.get(page(booking["id"])).status_code == 200
    csrf = b.csrf

    clock.set(now + timedelta(seconds=599))
    assert b.get(page(booking["id"])).status_code == 200
    clock.set(now + timedelta(seconds=600))  # it expires at `expires_at` exactly
    expired = b.get(page(booking["id"]))
    assert expired.status_code == 401
    assert "This link has expired or was withdrawn" in expired.text
    refused = b.post(page(booking["id"]) + "/cancel", {"reason": "late", "csrf_token": csrf})
    assert refused.status_code == 401
    assert b.get(link(booking["id"], customer.key)).status_code == 401  # the link too
    clock.fixed = None

    other, other_customer = opened(api, booking["id"], bot_user_ns=alice)
    assert other.get(page(booking["id"])).status_code == 200
    assert api.delete(f"/v1/customer-tokens/{other_customer.token_id}").status_code == 204
    assert other.get(page(booking["id"])).status_code == 401
    again, _ = opened(api, booking["id"], bot_user_ns=alice)
    assert api.post("/v1/customer-tokens/revoke", {"bot_user_ns": alice}).status_code == 200
    assert again.post(page(booking["id"]) + "/confirm", {"version": "1"}).status_code == 401
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "pending"


def _slot_values(response: httpx.Response) -> list[str]:
    return re.findall(r'name="start_time" value="([^"]+)"', response.text)


def test_moving_to_a_free_time(api: Api) -> None:
    uid = factories.service(api, default_duration=60)["service_uid"]
    hours = {day: [{"start": "09:00", "end": "12:00"}] for day in ("monday", "tuesday")}
    assert api.put(f"/v1/services/{uid}/availability", {"weekly_hours": hours}).status_code == 200
    alice = ns()
    assert api.put(f"/v1/bot-users/{alice}", {"timezone": "Europe/Berlin"}).status_code == 200
    # Monday 2031-01-13 09:00 UTC (10:00 in Berlin), and Bob at 10:00 UTC the next day.
    booking = new_booking(api, uid, alice, start_time="2031-01-13T09:00:00Z")
    new_booking(api, uid, "bob", start_time="2031-01-14T10:00:00Z")
    b, customer = opened(api, booking["id"], bot_user_ns=alice)

    own_day = b.get(page(booking["id"]))
    # Its own day, in Berlin, its own time free to it (09:00 is taken by nobody else).
    assert _slot_values(own_day) == [
        "2031-01-13T10:00:00+01:00",
        "2031-01-13T11:00:00+01:00",
        "2031-01-13T12:00:00+01:00",
    ]
    tuesday = b.get(page(booking["id"]) + "?day=2031-01-14")
    assert _slot_values(tuesday) == ["2031-01-14T10:00:00+01:00", "2031-01-14T12:00:00+01:00"]
    assert "Tuesday 14 January 2031" in tuesday.text
    closed = b.get(page(booking["id"]) + "?day=2031-01-15")
    assert _slot_values(closed) == [] and 'id="no-slots"' in closed.text
    unreadable = b.get(page(booking["id"]) + "?day=2031-02-30")
    assert unreadable.status_code == 200
    assert "a date from" in error_near(unreadable, "day")

    target = page(booking["id"]) + "/reschedule"
    unpicked = b.post(target, {"reason": "Work", "day": "2031-01-14", "version": "1"})
    assert unpicked.status_code == 422
    assert error_near(unpicked, "start_time") == "Pick one of the free times."
    assert 'value="Work"' in unpicked.text  # what was typed is kept
    taken = b.post(
        target,
        {"start_time": "2031-01-14T11:00:00+01:00", "reason": "Work", "version": "1"},
    )
    assert taken.status_code == 409  # Bob's: the service's own refusal, next to the times
    assert "fully booked" in error_near(taken, "start_time")
    no_reason = b.post(target, {"start_time": "2031-01-14T12:00:00+01:00", "version": "1"})
    assert no_reason.status_code == 422
    assert error_near(no_reason, "reschedule-reason")

    moved = b.post(
        target, {"start_time": "2031-01-14T12:00:00+01:00", "reason": "Work", "version": "1"}
    )
    assert moved.status_code == 303 and moved.headers["location"] == page(booking["id"])
    after = b.get(page(booking["id"]))
    assert "Your booking is moved to the new time." in after.text
    assert f"Tue 14 Jan 2031, 12:00 CET {DASH} 13:00" in text_of(after)
    staff = api.get(f"/v1/bookings/{booking['id']}").json()
    assert (staff["start_time"], staff["reschedule_reason"]) == ("2031-01-14T11:00:00Z", "Work")
    logs = api.get(f"/v1/bookings/{booking['id']}/logs").json()["data"]
    assert logs[-1]["actor"] == f"customer:{customer.token_id}"
    event = factories.events(api, booking_id=booking["id"], type="BOOKING_RESCHEDULED")[0]
    assert event["data"]["actor"] == f"customer:{customer.token_id}"
    stale = b.post(
        target, {"start_time": "2031-01-13T10:00:00+01:00", "reason": "x", "version": "1"}
    )
    assert stale.status_code == 409  # the page showed version 1: changed meanwhile
    assert "changed meanwhile" in stale.text or "version" in stale.text


def test_cancelling_within_the_services_policy(api: Api, clock: TestClock) -> None:
    uid = factories.service(api, customer_cutoff_minutes=1440)["service_uid"]
    alice = ns()
    soon = new_booking(api, uid, alice, start_time=factories.future(days=0, hours=2))
    later = new_booking(api, uid, alice, start_time=factories.future(days=5))
    b, _ = opened(api, later["id"], bot_user_ns=alice)

    close = b.get(page(soon["id"]))
    assert 'id="cancel-refused"' in close.text and "1440 minutes before its start" in close.text
    assert f'action="{page(soon["id"])}/cancel"' not in close.text
    refused = b.post(page(soon["id"]) + "/cancel", {"reason": "ill", "version": "1"})
    assert refused.status_code == 409  # the service layer's refusal, on the page
    assert "1440 minutes before its start" in refused.text

    empty = b.post(page(later["id"]) + "/cancel", {"reason": "", "version": "1"})
    assert empty.status_code == 422
    assert error_near(empty, "cancel-reason")
    assert 'aria-invalid="true" aria-describedby="cancel-reason-error"' in empty.text
    done = b.post(page(later["id"]) + "/cancel", {"reason": "I am ill", "version": "1"})
    assert done.status_code == 303
    shown = b.get(page(later["id"]))
    assert "Your booking is cancelled." in shown.text and "I am ill" in shown.text
    assert 'id="nothing"' in shown.text
    assert api.get(f"/v1/bookings/{later['id']}").json()["cancel_reason"] == "I am ill"
    assert api.get(f"/v1/bookings/{soon['id']}").json()["status"] == "pending"

    assert api.patch(f"/v1/services/{uid}", {"customer_can_cancel": False}).status_code == 200
    other = new_booking(api, uid, alice)
    staff_only = b.get(page(other["id"]))
    assert "cancelled by staff only" in staff_only.text
    assert b.post(page(other["id"]) + "/cancel", {"reason": "x"}).status_code == 409


def test_confirming_and_rating_after_completion(api: Api) -> None:
    b, booking_id, _ = alices_page(api)
    booking = {"id": booking_id}
    assert b.post(page(booking["id"]) + "/confirm", {"version": "1"}).status_code == 303
    confirmed = b.get(page(booking["id"]))
    assert "Your booking is confirmed." in confirmed.text
    assert "/confirm" not in confirmed.text and "/rating" not in confirmed.text
    early = b.post(page(booking["id"]) + "/rating", {"rating": "5"})
    assert early.status_code == 409  # a customer rates a completed booking: said on the page
    assert 'id="refused"' in early.text and "rates a completed booking" in early.text

    assert api.post(f"/v1/bookings/{booking['id']}/complete").status_code == 200
    completed = b.get(page(booking["id"]))
    assert "How was it?" in completed.text and "/reschedule" not in completed.text
    version = re.search(r'name="version" value="(\d+)"', completed.text).group(1)  # type: ignore[union-attr]
    for wrong in ("6", "-1", "five", ""):
        refused = b.post(page(booking["id"]) + "/rating", {"rating": wrong, "version": version})
        assert refused.status_code == 422, wrong
        assert error_near(refused, "rating")
    assert (
        b.post(page(booking["id"]) + "/rating", {"rating": "0", "version": version}).status_code
        == 303
    )
    rated = b.get(page(booking["id"]))
    assert "Thank you for your rating." in rated.text and "0 of 5" in rated.text
    assert 'value="0" checked' in rated.text
    assert api.get(f"/v1/bookings/{booking['id']}").json()["rating"] == 0


def test_every_form_needs_its_csrf_token(api: Api) -> None:
    b, booking_id, alice = alices_page(api)
    booking = {"id": booking_id}
    shown = b.get(page(booking["id"]))
    forms = re.findall(r'<form method="post" action="([^"]+)"', shown.text)
    assert len(forms) == 3
    # Another customer's form token (of another token of the same bot user) does not do either.
    other = follow(api, booking["id"], factories.customer(api, bot_user_ns=alice).key)
    other.get(page(booking["id"]))
    for action in [*forms, page(booking["id"]) + "/rating"]:
        for token in (None, "", "forged", other.csrf):
            data = {"reason": "x", "rating": "1", "start_time": factories.future(days=3)}
            if token is not None:
                data["csrf_token"] = token
            refused = b.post(action, data, csrf=False)
            assert refused.status_code == 403, (action, token)
            assert "The form expired or did not come from this page" in refused.text
            assert_page_headers(refused)
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "pending"


def test_unknown_addresses_and_the_stylesheet(api: Api) -> None:
    b, booking_id, _ = alices_page(api)
    booking = {"id": booking_id}
    for path in (page(booking["id"]) + "/delete", page(booking["id"]) + "/complete"):
        refused = b.post(path, {"reason": "x"})
        assert refused.status_code == 404, path
        assert_page_headers(refused)
    missing = b.get(page(2**31 - 1))
    assert missing.status_code == 404
    assert "There is no booking of yours at this address." in missing.text
    assert b.get("/my/abc").status_code == 404
    css = b.get("/my-static/selfservice.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
    assert css.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
