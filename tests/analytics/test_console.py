"""The console's Analytics page without a browser: its figures, its charts as SVG documents of
their own (no script, styles allowed inside them only), and a bad query named next to its field."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from tests import factories
from tests.conftest import Api
from tests.console.support import signed_in


def test_the_page_its_charts_and_a_refused_query(api: Api) -> None:
    svc = factories.service(api, name="Consultation")
    start = datetime.now(UTC) + timedelta(days=1)
    for i, reason in enumerate(("Ill", "ill ", "Too far")):
        made = factories.booking(
            api, service_uid=svc["service_uid"], bot_user_ns=f"u{i}",
            start_time=factories.iso(start + timedelta(hours=i)),
        )  # fmt: skip
        assert api.post(f"/v1/bookings/{made['id']}/cancel", {"reason": reason}).status_code == 200
    b = signed_in(api)
    page = b.get("/analytics")
    assert page.status_code == 200
    assert 'id="sum-bookings">3 starting in the range · 3 made in it' in page.text
    assert 'Ill <span class="muted">(2)</span>' in page.text
    for name in ("statuses", "rates", "ratings", "reasons", "reminders"):
        assert f'src="/analytics/charts/{name}.svg?' in page.text
        chart = b.get(f"/analytics/charts/{name}.svg", params={"granularity": "day"})
        assert chart.status_code == 200, chart.text
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
        # Shown as an image, an SVG runs no script; its policy forbids any besides.
        assert chart.text.lstrip().startswith("<svg")
    assert b.get("/analytics/charts/nope.svg").status_code == 404

    refused = b.get("/analytics", params={"granularity": "year"})
    assert refused.status_code == 422
    assert "Input should be 'day', 'week' or 'month'" in html.unescape(refused.text)
    unknown = b.get("/analytics", params={"service_uid": "nope"})
    assert unknown.status_code == 422 and "nope" in unknown.text
