"""Signing in and out, the session cookie, CSRF on every form, the sign-in rate limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bookd.console import auth
from bookd.console.endpoints import ROUTERS
from bookd.console.web import SESSION_COOKIE, ConsoleRoute
from tests import factories
from tests.conftest import Api
from tests.console.support import PASSWORD, browser, new_admin, signed_in


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
    for _ in range(auth.MAX_FAILURES_PER_EMAIL):
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
        if isinstance(route, ConsoleRoute) and method in route.methods
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
