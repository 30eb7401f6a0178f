"""Signing in and out, the session cookie, CSRF on every form, the sign-in rate limit."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.console import auth
from bookd.console.endpoints import ROUTERS
from bookd.console.models import SignInCounter
from bookd.console.web import SIGN_IN_COOKIE, ConsoleRoute
from tests import factories
from tests.conftest import Api
from tests.console.support import CSRF, PASSWORD, browser, new_admin, signed_in
from tests.processes import bookd_env, serving

# The documented limits (docs/security.md, docs/console.md): failed sign-ins per email and per
# client address within a window that opens with a key's first failure.
LIMIT_PER_EMAIL = 5
LIMIT_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
SESSION_COOKIE = "bookd_session"  # docs/decisions.md


def test_pages_need_a_session(api: Api) -> None:
    b = browser(api.client)
    for path in ("/", "/services", "/bookings", "/triggers", "/settings"):
        response = b.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=")


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in?next=/services")
    response = b.post(
        "/sign-in", {"email": email.upper(), "password": PASSWORD, "next": "/services"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/services"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS the cookie is Secure
    page = b.get("/services")
    assert page.status_code == 200
    assert email in b.get("/settings").text
    token = b.cookies[SESSION_COOKIE]

    assert b.post("/sign-out").status_code == 303
    b.cookies[SESSION_COOKIE] = token  # the old cookie, replayed
    assert b.get("/services").status_code == 303


def test_sign_in_never_redirects_off_site(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    response = b.post("/sign-in", {"email": email, "password": PASSWORD, "next": "//evil.test/"})
    assert response.headers["location"] == "/"


def test_a_wrong_password_is_refused_on_the_form(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    response = b.post("/sign-in", {"email": email, "password": "not the password"})
    assert response.status_code == 401
    assert "The email or the password is not right".lower() in response.text.lower()
    assert SESSION_COOKIE not in b.cookies


def test_failed_sign_ins_are_rate_limited(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    for _ in range(LIMIT_PER_EMAIL):
        assert b.post("/sign-in", {"email": email, "password": "wrong password"}).status_code == 401
    refused = b.post("/sign-in", {"email": email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "too many failed sign-ins" in refused.text
    assert SESSION_COOKIE not in b.cookies
    # Another admin is not locked out by someone guessing this one's password.
    assert browser(api.client).sign_in(new_admin(api)).status_code == 303


def test_the_sign_in_form_needs_its_csrf_token(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    missing = b.post("/sign-in", {"email": email, "password": PASSWORD}, csrf=False)
    assert missing.status_code == 403
    forged = b.post("/sign-in", {"email": email, "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert SESSION_COOKIE not in b.cookies


def console_routes(method: str) -> list[str]:
    return sorted(
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, ConsoleRoute) and method in (route.methods or set())
    )


def console_posts(_client: TestClient) -> list[str]:
    return [p for p in console_routes("POST") if p != "/sign-in"]


def test_every_form_without_a_valid_csrf_token_is_refused(api: Api) -> None:
    b = signed_in(api)
    svc = factories.service(api, name="Untouched")
    factories.template(api, svc["service_uid"])
    booking = factories.booking(api, service_uid=svc["service_uid"])
    values = {
        "uid": svc["service_uid"],
        "plural": "reminders",
        "sequence": "1",
        "booking_id": str(booking["id"]),
        "action": "confirm",
        "trigger_id": "1",
        "delivery_id": "1",
        "key_id": "1",
        "user_id": "1",
    }
    paths = console_posts(api.client)
    assert len(paths) >= 20
    for path in paths:
        url = path.format(**values)
        for token in (None, "forged-token"):
            data = {"name": "Changed", "reason": "x"}
            if token:
                data["csrf_token"] = token
            response = b.post(url, data, csrf=False)
            assert response.status_code == 403, (url, token, response.status_code)
            assert "did not come from this console" in response.text
    assert api.get(f"/v1/services/{svc['service_uid']}").json()["name"] == "Untouched"
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "pending"
    # The session is still good: the refusals did not sign it out.
    assert b.get("/services").status_code == 200


def test_over_tls_the_session_cookie_is_secure(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("https://testserver/sign-in")
    response = b.post(
        "https://testserver/sign-in", {"email": email, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


# --- the limit's window, counted per email and per address ---------------------------------------


def sign_in_at(api: Api, email: str, password: str, address: str, now: datetime) -> int:
    """`auth.sign_in` as the sign-in form calls it, committed like the form's transaction: the
    status the form would answer."""

    async def work(session: AsyncSession) -> int:
        try:
            await auth.sign_in(session, email, password, address, now)
        except (auth.SignInRefused, auth.TooManyAttempts) as exc:
            return exc.status_code
        return 303

    return api.run(work)


def counters(api: Api, *keys: str) -> dict[str, int]:
    async def work(session: AsyncSession) -> dict[str, int]:
        rows = await session.execute(
            select(SignInCounter.key, SignInCounter.failures).where(SignInCounter.key.in_(keys))
        )
        return {key: failures for key, failures in rows.all()}

    return api.run(work)


def new_address() -> str:
    return f"192.0.2.{secrets.randbelow(250) + 1}-{secrets.token_hex(4)}"


T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_window_opens_with_the_first_failure_and_refuses_until_it_ends(api: Api) -> None:
    email, address = new_admin(api), new_address()
    assert sign_in_at(api, email, PASSWORD, address, T0) == 303  # a success opens no window
    for minute in range(LIMIT_PER_EMAIL):
        assert (
            sign_in_at(api, email, "wrong password", address, T0 + timedelta(minutes=minute)) == 401
        )
    first = T0  # the first failure
    almost = first + WINDOW - timedelta(seconds=1)
    assert sign_in_at(api, email, PASSWORD, address, almost) == 429
    assert sign_in_at(api, email, PASSWORD, address, first + WINDOW) == 303


def test_a_success_clears_the_emails_failures_not_the_addresss(api: Api) -> None:
    email, address = new_admin(api), new_address()
    for _ in range(2):
        assert sign_in_at(api, email, "wrong password", address, T0) == 401
    assert counters(api, f"email:{email}", f"ip:{address}") == {
        f"email:{email}": 2,
        f"ip:{address}": 2,
    }
    assert sign_in_at(api, email, PASSWORD, address, T0 + timedelta(minutes=1)) == 303
    assert counters(api, f"email:{email}", f"ip:{address}") == {f"ip:{address}": 2}


def test_a_new_window_starts_with_one_failure(api: Api) -> None:
    email, address = new_admin(api), new_address()
    for _ in range(LIMIT_PER_EMAIL):
        assert sign_in_at(api, email, "wrong password", address, T0) == 401
    later = T0 + WINDOW + timedelta(minutes=1)
    assert sign_in_at(api, email, "wrong password", address, later) == 401
    assert counters(api, f"email:{email}") == {f"email:{email}": 1}
    # Refused tries are not failures: they neither count nor move the window.
    for _ in range(LIMIT_PER_EMAIL - 1):
        assert sign_in_at(api, email, "wrong password", address, later) == 401
    assert sign_in_at(api, email, PASSWORD, address, later + timedelta(minutes=14)) == 429
    assert counters(api, f"email:{email}") == {f"email:{email}": LIMIT_PER_EMAIL}
    assert sign_in_at(api, email, PASSWORD, address, later + WINDOW) == 303


def test_failures_are_also_counted_per_address(api: Api) -> None:
    address = new_address()
    for n in range(LIMIT_PER_ADDRESS):
        assert sign_in_at(api, f"nobody-{n}@example.com", "wrong password", address, T0) == 401
    email = new_admin(api)
    assert sign_in_at(api, email, PASSWORD, address, T0 + timedelta(minutes=1)) == 429
    assert sign_in_at(api, email, PASSWORD, new_address(), T0 + timedelta(minutes=1)) == 303


# --- thirty tries at once against a real server ---------------------------------------------------

RACERS = 30


async def race_wrong_passwords(base: str, email: str) -> Counter[int]:
    """RACERS browsers, each with its own sign-in form, post a wrong password at the same time."""
    limits = httpx.Limits(max_connections=RACERS)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def form() -> tuple[str, str]:
            page = await http.get("/sign-in")
            token = CSRF.search(page.text)
            assert page.status_code == 200 and token, page.text
            return page.cookies[SIGN_IN_COOKIE], token.group(1)

        forms = await asyncio.gather(*(form() for _ in range(RACERS)))
        http.cookies.clear()

        async def post(cookie: str, token: str) -> int:
            answer = await http.post(
                "/sign-in",
                data={"email": email, "password": "wrong password", "csrf_token": token},
                headers={"Cookie": f"{SIGN_IN_COOKIE}={cookie}"},
            )
            return answer.status_code

        return Counter(await asyncio.gather(*(post(c, t) for c, t in forms)))


def test_parallel_wrong_passwords_get_exactly_the_limit(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    """The check and the count are one step: of 30 wrong passwords posted at once to a real
    `bookd serve`, each request its own transaction on its own connection, exactly 5 are
    checked and refused as wrong, and 25 are refused as too many."""
    email = new_admin(api)
    with serving(tmp_path, bookd_env(database_url), "--no-worker") as base:
        outcome = asyncio.run(race_wrong_passwords(base, email))
    assert outcome == Counter({401: 5, 429: 25})
    assert counters(api, f"email:{email}") == {f"email:{email}": LIMIT_PER_EMAIL}
    b = browser(api.client)
    assert b.sign_in(email).status_code == 429


# --- bad input on the account forms -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["email", "password", "next"])
def test_a_nul_in_any_sign_in_field_is_bad_input_and_counts_nothing(api: Api, field: str) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    values = {"email": email, "password": PASSWORD, "next": "/services"}
    values[field] = values[field][:3] + "\x00" + values[field][3:]
    refused = b.post("/sign-in", values)
    assert refused.status_code == 422
    assert "NUL character" in refused.text
    assert 'name="email"' in refused.text  # the form, shown again
    assert "\x00" not in refused.text
    assert SESSION_COOKIE not in b.cookies
    assert counters(api, f"email:{email}") == {}
    assert b.sign_in(email).status_code == 303


def test_the_sign_in_form_refuses_what_no_user_can_have(api: Api) -> None:
    email = new_admin(api)
    b = browser(api.client)
    b.get("/sign-in")
    too_long = b.post("/sign-in", {"email": "a" * 320 + "@example.com", "password": PASSWORD})
    assert too_long.status_code == 422
    assert "at most 320 characters" in too_long.text
    assert b.post("/sign-in", {"password": PASSWORD}).status_code == 422
    assert counters(api, f"email:{email}") == {}


def test_a_nul_in_the_new_admin_form_is_bad_input(api: Api) -> None:
    b = signed_in(api)
    for values in (
        {"email": "new\x00@example.com", "password": "a long enough password"},
        {"email": "new@example.com", "password": "a long enough\x00password"},
    ):
        refused = b.post("/settings/users", values)
        assert refused.status_code == 422
        assert "NUL character" in refused.text
    assert "new@example.com" not in b.get("/settings").text
