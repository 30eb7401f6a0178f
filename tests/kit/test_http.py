"""What every route answers alike: HEAD as GET without the body, and the trailing-slash redirect,
which never carries the Host a client sent."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient

from bookd.config import Settings
from tests import factories
from tests.conftest import Api
from tests.console.support import signed_in
from tests.processes import bookd_env, serving


@pytest.fixture
def public_url(client: TestClient) -> Iterator[Callable[[str], None]]:
    """Set BOOKD_PUBLIC_URL on the session app for one test."""
    app: Any = client.app
    original: Settings = app.state.settings

    def change(url: str) -> None:
        app.state.settings = original.replace(public_url=url)

    yield change
    app.state.settings = original


def same_but_body(get: httpx2.Response, head: httpx2.Response) -> None:
    assert head.status_code == get.status_code
    assert head.content == b""
    # A new sign-in form token is made per request: the cookie is there, its value differs.
    names = [h.split("=", 1)[0] for h in get.headers.get_list("set-cookie")]
    assert [h.split("=", 1)[0] for h in head.headers.get_list("set-cookie")] == names
    assert {k: v for k, v in head.headers.items() if k != "set-cookie"} == {
        k: v for k, v in get.headers.items() if k != "set-cookie"
    }
    if "content-length" in get.headers:
        assert int(head.headers["content-length"]) == len(get.content)


def test_head_answers_as_get_without_the_body(api: Api) -> None:
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    feed = api.post("/v1/calendar-feed").json()["url"]
    console = signed_in(api)
    auth = api.headers
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in console.cookies.items())}
    cases: list[tuple[str, dict[str, str], int, str]] = [
        ("/healthz", {}, 200, "application/json"),
        ("/openapi.json", {}, 200, "application/json"),
        ("/v1/services", auth, 200, "application/json"),
        (f"/v1/bookings/{booking['id']}", auth, 200, "application/json"),
        (f"/v1/bookings/{booking['id']}.ics", auth, 200, "text/calendar"),
        (feed, {}, 200, "text/calendar"),
        ("/v1/services", {}, 401, "application/json"),
        ("/v1/bookings/999999999", auth, 404, "application/json"),
        ("/sign-in", {}, 200, "text/html"),
        ("/", cookie, 200, "text/html"),
        (f"/bookings/{booking['id']}", cookie, 200, "text/html"),
        ("/console-static/console.css", {}, 200, "text/css"),
        ("/console-static/favicon.svg", {}, 200, "image/svg+xml"),
        ("/docs", {}, 200, "text/html"),
        ("/docs-assets/swagger-ui.css", {}, 200, "text/css"),
    ]
    for path, headers, status, content_type in cases:
        get = api.client.get(path, headers=headers, follow_redirects=False)
        head = api.client.head(path, headers=headers, follow_redirects=False)
        assert get.status_code == status, (path, get.text[:200])
        assert get.headers["content-type"].startswith(content_type), path
        assert get.content, path
        same_but_body(get, head)


def test_head_on_a_route_without_get_stays_405(api: Api) -> None:
    for path in ("/v1/bookings/1/cancel", "/sign-out"):
        get = api.client.get(path, headers=api.headers)
        head = api.client.head(path, headers=api.headers)
        assert head.status_code == 405, path
        assert get.headers["allow"] == "POST", path
        assert get.json()["error"]["code"] == "method_not_allowed", path
        same_but_body(get, head)


def test_the_slash_redirect_is_relative_whatever_the_host(api: Api) -> None:
    for path, target in (
        ("/v1/services/", "/v1/services"),
        ("/v1/services/?limit=5&x=%2F", "/v1/services?limit=5&x=%2F"),
        ("/healthz/", "/healthz"),
        ("/sign-in/", "/sign-in"),
    ):
        for method in ("GET", "HEAD", "POST"):
            response = api.client.request(
                method, path, headers={"Host": "evil.example"}, follow_redirects=False
            )
            assert response.status_code == 307, (method, path)
            assert response.headers["location"] == target, (method, path)
            assert "evil.example" not in response.text
    # Followed, it arrives where it should.
    assert api.get("/v1/services/").status_code == 200
    # A path no route takes, with or without the slash, stays a 404; so does one that would
    # redirect to another host ("//evil.example" is a network-path reference).
    for path in ("/v1/nothing/", "/v1/nothing", "//evil.example/", "/\\evil.example/"):
        response = api.client.get(
            "http://testserver" + path, headers={"Host": "evil.example"}, follow_redirects=False
        )
        assert response.status_code == 404, path
        assert "location" not in response.headers
    # A backslash, which browsers read as a slash, leaves percent-encoded.
    response = api.client.get("/bookings/\\evil.example/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/bookings/%5Cevil.example"


def test_the_public_url_makes_the_redirect_absolute(
    api: Api, public_url: Callable[[str], None]
) -> None:
    public_url("https://book.example.com/base")
    response = api.client.get(
        "/v1/services/?limit=5", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 307
    assert response.headers["location"] == "https://book.example.com/base/v1/services?limit=5"


def test_the_feed_url_is_under_the_public_url(api: Api, public_url: Callable[[str], None]) -> None:
    # Unset: the URL is made for the answer to this request alone (it is stored nowhere).
    issued = api.post("/v1/calendar-feed", headers={"Host": "bookd.internal:8000"}).json()
    assert issued["url"] == f"http://bookd.internal:8000/v1/feeds/{issued['token']}.ics"
    public_url("https://book.example.com/base")
    issued = api.post("/v1/calendar-feed", headers={"Host": "evil.example"}).json()
    assert issued["url"] == f"https://book.example.com/base/v1/feeds/{issued['token']}.ics"
    # Behind the proxy that strips /base, the path after it is the feed's.
    path = issued["url"].removeprefix("https://book.example.com/base")
    assert api.client.get(path).headers["content-type"].startswith("text/calendar")


def test_the_consoles_feed_url_is_under_the_public_url(
    api: Api, public_url: Callable[[str], None]
) -> None:
    browser = signed_in(api)
    public_url("https://book.example.com/base")
    page = browser.post("/settings/calendar-feed")
    assert page.status_code == 201
    assert re.search(
        r'id="new-feed-url">https://book\.example\.com/base/v1/feeds/[^<]+\.ics<', page.text
    )


def test_head_through_a_real_server(tmp_path: Path) -> None:
    # uvicorn sends no body for HEAD and holds the headers to it: the connection stays usable.
    with (
        serving(tmp_path, bookd_env(f"sqlite:///{tmp_path / 'bookd.db'}")) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        for path in ("/healthz", "/sign-in", "/docs", "/console-static/console.css", "/v1/x/"):
            head = http.head(path)
            get = http.get(path)
            assert head.status_code == get.status_code, path
            assert head.content == b""
            assert head.headers["content-length"] == get.headers["content-length"], path
            assert head.headers["content-type"] == get.headers["content-type"], path
