"""The events list (`events.queries.list_events` under `GET /v1/events`): pages in outbox order
that add up to the whole list, and each filter, on both databases."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Api


def _pages(api: Api, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        answer = api.get("/v1/events", params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([e["id"] for e in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_pages_add_up_to_the_list_and_filters_keep_to_what_they_name(api: Api) -> None:
    service = factories.service(api)["service_uid"]
    first, second = (factories.booking(api, service_uid=service) for _ in range(2))
    api.post(f"/v1/bookings/{first['id']}/confirm")
    every = factories.events(api)
    assert len(every) >= 3

    pages = _pages(api, limit=2)
    assert [len(p) for p in pages[:-1]] == [2] * (len(pages) - 1)
    assert [i for page in pages for i in page] == [e["id"] for e in every]

    created = [e["id"] for e in every if e["type"] == "BOOKING_CREATED"]
    assert [e["id"] for e in factories.events(api, type="BOOKING_CREATED")] == created
    mine = [e["id"] for e in every if e["data"].get("booking", {}).get("id") == second["id"]]
    assert [e["id"] for e in factories.events(api, booking_id=second["id"])] == mine
    at = every[0]["occurred_at"]
    assert factories.events(api, occurred_from=at)[0]["id"] == every[0]["id"]
    assert every[0]["id"] not in [e["id"] for e in factories.events(api, occurred_to=at)]
