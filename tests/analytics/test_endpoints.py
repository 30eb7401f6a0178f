"""`GET /v1/analytics`: the figures of a small known history, the CSV the same rows as the JSON,
bad queries refused with the field named."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests import factories
from tests.conftest import Api


def test_a_known_history_in_figures_json_and_csv(api: Api) -> None:
    svc = factories.service(api, name="Consultation")
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(
        days=2
    )
    made = [
        factories.booking(api, service_uid=svc["service_uid"], bot_user_ns=f"u{i}",
                          start_time=factories.iso(start + timedelta(hours=i)))["id"]
        for i in range(4)
    ]  # fmt: skip
    assert (
        api.post(f"/v1/bookings/{made[0]}/cancel", {"reason": "Too expensive"}).status_code == 200
    )
    assert (
        api.post(f"/v1/bookings/{made[1]}/cancel", {"reason": " too  EXPENSIVE"}).status_code == 200
    )
    assert api.post(f"/v1/bookings/{made[2]}/complete").status_code == 200
    assert api.post(f"/v1/bookings/{made[2]}/rating", {"rating": 4}).status_code == 200
    assert api.post(f"/v1/bookings/{made[3]}/no-show").status_code == 200
    day = start.date().isoformat()
    params = {"from": day, "to": day, "granularity": "day"}

    answer = api.get("/v1/analytics", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["timezone"]) == (day, day, "UTC")
    total, per_service = body["rows"]
    assert total["service_uid"] is None and per_service["service_uid"] == svc["service_uid"]
    for row in (total, per_service):
        assert row["bookings"] == 4 and row["created"] == 0  # made today, not on the day asked
        assert (row["cancelled"], row["completed"], row["no_show"]) == (2, 1, 1)
        assert row["completion_rate"] == 0.25 and row["cancellation_rate"] == 0.5
        assert row["no_show_rate"] == 0.5
        assert row["rating_average"] == 4.0 and row["ratings"]["4"] == 1
        assert row["top_cancel_reasons"] == [{"reason": "Too expensive", "count": 2}]
        assert row["no_show_rate_without_reminder"] == 0.5
        assert row["no_show_rate_with_reminder"] is None
    assert total["deliveries_succeeded"] == 0 and per_service["deliveries_succeeded"] is None

    for asked in (
        {"params": {**params, "format": "csv"}},
        {"params": params, "headers": {"Accept": "text/csv"}},
    ):
        as_csv = api.get("/v1/analytics", **asked)
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert len(lines) == len(body["rows"])
        for line, row in zip(lines, body["rows"], strict=True):
            for name, value in row.items():
                if name == "ratings":
                    assert all(line[f"rating_{r}"] == str(n) for r, n in value.items())
                elif name.startswith("top_"):
                    assert line[name] == "; ".join(f"{r['reason']} ({r['count']})" for r in value)
                else:
                    assert line[name] == ("" if value is None else str(value)), name
    # Today's row counts the four creations.
    today = api.get("/v1/analytics", params={"granularity": "month"}).json()["rows"]
    assert sum(r["created"] for r in today if r["service_uid"] is None) == 4


def test_bad_queries_are_refused_with_the_field(api: Api) -> None:
    for params, field in (
        ({"granularity": "year"}, "granularity"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, ""),
        ({"from": "2000-01-01", "to": "2026-01-01", "granularity": "day"}, ""),
    ):
        answer = api.get("/v1/analytics", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert field in answer.text
    assert api.get("/v1/analytics", params={"service_uid": "nope"}).status_code == 404
