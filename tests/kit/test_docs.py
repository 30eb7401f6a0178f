"""/docs and /redoc load nothing from another host: every file they name is bookd's own, and is
there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.conftest import IN_CI
from tests.processes import bookd_env, serving

if TYPE_CHECKING:
    from playwright.sync_api import Page

TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
# Every URL a page names: an attribute (src, href, spec-url) or Swagger UI's `url:` option.
NAMED = re.compile(r"""(?:\b(?:src|href|spec-url)=|\burl:\s*)["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_our_own_files(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.findall(r"(?:https?:)?//[\w.-]+", html), html  # no other host, no CDN
    assert "fonts.googleapis" not in html
    # Nor may what the page's scripts ask for: everything from bookd itself.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    named = NAMED.findall(html)
    assert "/openapi.json" in named
    assert any(url.endswith(".js") for url in named)
    for url in named:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.headers["content-type"].startswith(TYPES[suffix]), (url, asset.headers)
        assert len(asset.content) > 100, url


def test_swagger_ui_reads_openapi_3_1(client: TestClient) -> None:
    # FastAPI writes OpenAPI 3.1, which Swagger UI renders from version 5 on (4 shows an error).
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = client.get("/docs-assets/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle)
    # No badge fetched from the online validator.
    assert '"validatorUrl": null' in client.get("/docs").text


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM.exists() and not IN_CI, reason=f"no Chromium at {CHROMIUM} (.ci/run installs it)"
)
def test_the_docs_render_in_a_browser_that_reaches_no_other_host(
    tmp_path: Path, scratch_sqlite: str, new_page: Callable[..., Page]
) -> None:
    from playwright.sync_api import Route, expect

    elsewhere: list[str] = []
    with serving(tmp_path, bookd_env(scratch_sqlite)) as base:
        page = new_page(base_url=base)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        def only_bookd(route: Route) -> None:
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:  # as on a machine without internet
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_bookd)
        page.goto("/docs")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/v1/bookings").first).to_be_visible()
        page.goto("/redoc")
        # ReDoc lays the whole document out in script before it shows anything: on two busy
        # cores (the suite runs beside it) that takes seconds per hundred operations.
        expect(page.get_by_role("heading", name="bookd").first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("/v1/bookings").first).to_be_attached()
        page.context.close()
    assert elsewhere == []
    assert errors == []
