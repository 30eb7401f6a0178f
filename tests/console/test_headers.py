"""Every console answer carries the security headers, whichever code made it: pages, the sign-in
page, refusals, redirects, server errors, static files; pages are never stored. The console works
under its content security policy in a real browser. The favicon is there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from bookd.console.web import error_page
from bookd.kit.pages import CONTENT_SECURITY_POLICY, PageHeaders
from tests.conftest import Api
from tests.console.support import PASSWORD, browser, new_admin, signed_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")


def assert_console_headers(
    response: httpx.Response | httpx2.Response, *, cache: str = "no-store"
) -> None:
    headers = response.headers
    policy = headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("style-src-attr")[0]  # no inline script or <style>
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == cache


def test_a_signed_in_page(api: Api) -> None:
    b = signed_in(api)
    for path in ("/", "/services", "/bookings", "/triggers", "/settings"):
        page = b.get(path)
        assert page.status_code == 200, path
        assert_console_headers(page)


def test_the_sign_in_page_and_its_answers(api: Api) -> None:
    b = browser(api.client)
    form = b.get("/sign-in")
    assert form.status_code == 200
    assert_console_headers(form)
    email = new_admin(api)
    wrong = b.post("/sign-in", {"email": email, "password": "wrong password"})
    assert wrong.status_code == 401
    assert_console_headers(wrong)
    bad = b.post("/sign-in", {"email": "x\x00@example.com", "password": PASSWORD})
    assert bad.status_code == 422
    assert_console_headers(bad)
    signed = b.post("/sign-in", {"email": email, "password": PASSWORD, "next": "/settings"})
    assert signed.status_code == 303
    assert_console_headers(signed)


def test_redirects_and_error_pages(api: Api) -> None:
    to_sign_in = browser(api.client).get("/bookings")
    assert to_sign_in.status_code == 303
    assert_console_headers(to_sign_in)
    b = signed_in(api)
    missing = b.get("/bookings/2147483647")
    assert missing.status_code == 404
    assert "Not found" in missing.text
    assert_console_headers(missing)
    forged = b.post("/settings", {"name": "x", "csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 403
    assert_console_headers(forged)
    signed_out = b.post("/sign-out")
    assert signed_out.status_code == 303
    assert_console_headers(signed_out)


def test_static_files_may_be_kept_and_the_api_is_left_alone(api: Api) -> None:
    for path, kind in (
        ("/console-static/console.css", "text/css"),
        ("/console-static/console.js", "javascript"),
        ("/console-static/favicon.svg", "image/svg+xml"),
    ):
        answer = api.client.get(path)
        assert answer.status_code == 200, path
        assert kind in answer.headers["content-type"]
        assert_console_headers(answer, cache="no-cache")
    listed = api.get("/v1/services")
    assert listed.status_code == 200
    assert "content-security-policy" not in listed.headers
    docs = api.client.get("/docs")  # a policy of its own, if any
    assert docs.headers.get("content-security-policy") != CONTENT_SECURITY_POLICY


def test_the_favicon(api: Api) -> None:
    icon = api.client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert_console_headers(icon, cache="no-cache")
    page = browser(api.client).get("/sign-in").text
    for href in re.findall(r'<link rel="icon" href="([^"]+)"', page):
        assert api.client.get(href).headers["content-type"].startswith("image/"), href


def test_a_server_error_is_the_consoles_error_page_with_the_headers() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a fault")

    app = PageHeaders(failing, sections=frozenset({"broken"}), static=frozenset(), error=error_page)
    answer = TestClient(app, raise_server_exceptions=False).get("/broken/page")
    assert answer.status_code == 500
    assert "text/html" in answer.headers["content-type"]
    assert "Something went wrong" in answer.text
    assert_console_headers(answer)
    with pytest.raises(RuntimeError):
        TestClient(app).get("/broken/page")  # still raised, for the server to log


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_console_works_under_its_policy_in_a_browser(
    tmp_path: Path, scratch_sqlite: str, new_page: Callable[..., Page]
) -> None:
    """Styles and the script load; the policy refuses nothing the console's own pages
    use (Chromium reports each refusal on the page's console)."""
    from playwright.sync_api import Dialog, expect

    from tests.browser import new_account, sign_in
    from tests.processes import bookd_env, serving

    env = bookd_env(scratch_sqlite)
    admin = new_account(scratch_sqlite, "Policy", email="policy@example.com")
    with serving(tmp_path, env, "--no-worker") as base:
        page = new_page(base_url=base)
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.goto("/sign-in")
        sign_in(page, "policy@example.com", str(admin.password))
        expect(page.locator("h1")).to_have_text("Overview")
        # The stylesheet applies: the header's dark background.
        expect(page.locator("header.top")).to_have_css("background-color", "rgb(23, 35, 58)")
        for path in ("/services/new", "/bookings/new", "/triggers/new", "/settings"):
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
        # The inline style attributes of the trigger form apply.
        page.goto("/triggers/new")
        tick = page.locator("input[name=event_types][value='*']")
        assert tick.evaluate("e => e.getBoundingClientRect().width") < 50  # not the 100% of inputs
        # The script runs: a button with a question asks it first.
        page.goto("/settings")
        asked: list[str] = []

        def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", answer)
        page.locator("button[data-confirm]").first.click()
        expect(page.locator("h1")).to_have_text("Settings")
        assert asked and "?" in asked[0]
        page.context.close()
    refusals = [m for m in messages if "Content Security Policy" in m]
    assert refusals == []
