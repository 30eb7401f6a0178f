"""The capacity check and the insert are atomic: 50 clients ask a real `bookd serve` for the same
slot of a capacity-2 service at once, over real HTTP; exactly 2 get it and 48 get 409
`unavailable`, round after round (20 rounds in `make soak`, 5 in `make test`), on PostgreSQL and on SQLite. Reschedules racing into one place
likewise, in the test app.

Each request is its own transaction on its own connection in the server process. PostgreSQL
serialises the checks with the lock on the service row, SQLite with its single writer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests import factories, sizes
from tests.bookings.test_concurrency import race
from tests.conftest import Api, TestClock
from tests.processes import bookd_env, new_api_key, serving

ROUNDS = sizes.size(5, 20)
CLIENTS = 50
CAPACITY = 2


async def race_for_slots(base: str, key: str) -> list[Counter[tuple[int, str]]]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=120, limits=limits
    ) as http:
        created = await http.post(
            "/v1/services",
            json={"name": "Race", "service_uid": "race", "default_duration": 60},
        )
        assert created.status_code == 201, created.text
        every_day = {
            day: [{"start": "08:00", "end": "20:00"}]
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
        } | {"sunday": [{"start": "08:00", "end": "20:00"}]}
        settings = await http.put(
            "/v1/services/race/availability",
            json={"weekly_hours": every_day, "capacity": CAPACITY},
        )
        assert settings.status_code == 200, settings.text
        first_day = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
        outcomes: list[Counter[tuple[int, str]]] = []
        for round_ in range(ROUNDS):
            start = (first_day + timedelta(days=2 + round_)).strftime("%Y-%m-%dT%H:%M:%SZ")

            # A fresh client per round: a kept-alive connection the server closes while idle
            # between rounds would fail the request that reuses it (a client matter, not bookd's).
            racers = httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits)

            async def book(
                n: int, start: str = start, round_: int = round_, racers: httpx.AsyncClient = racers
            ) -> tuple[int, str]:
                answer = await racers.post(
                    "/v1/bookings",
                    json={
                        "service_uid": "race",
                        "bot_user_ns": f"racer-{round_}-{n}",
                        "start_time": start,
                    },
                )
                code = "" if answer.status_code == 201 else answer.json()["error"]["code"]
                return answer.status_code, code

            async with racers:
                outcomes.append(Counter(await asyncio.gather(*(book(n) for n in range(CLIENTS)))))
        stored = await http.get("/v1/bookings", params={"service_uid": "race", "limit": 200})
        per_start = Counter(b["start_time"] for b in stored.json()["data"])
        assert len(per_start) == ROUNDS and set(per_start.values()) == {CAPACITY}, per_start
        return outcomes


def run_the_race(url: str, folder: Path) -> None:
    key = new_api_key(url, folder, "race", "--timezone", "UTC")
    with serving(folder, bookd_env(url), "--no-worker") as base:
        outcomes = asyncio.run(race_for_slots(base, key))
    expected = Counter({(201, ""): CAPACITY, (409, "unavailable"): CLIENTS - CAPACITY})
    failures = [(n, dict(c)) for n, c in enumerate(outcomes) if c != expected]
    assert failures == [], failures


@pytest.mark.soak
def test_fifty_clients_for_two_places_on_postgresql(scratch_postgres: str, tmp_path: Path) -> None:
    run_the_race(scratch_postgres, tmp_path)


@pytest.mark.soak
def test_fifty_clients_for_two_places_on_sqlite(scratch_sqlite: str, tmp_path: Path) -> None:
    run_the_race(scratch_sqlite, tmp_path)


def test_racing_reschedules_into_one_place_move_one_booking(api: Api, clock: TestClock) -> None:
    """Reschedules take the same check under the same lock: 20 bookings racing into the last
    place of a capacity-1 slot (real concurrent transactions in the app), one moves."""
    clock.set(datetime(2027, 1, 1, 8, 0, tzinfo=UTC))
    uid = factories.service(api, default_duration=30)["service_uid"]
    every_day = {
        day: [{"start": "00:00", "end": "24:00"}]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    settings = api.put(f"/v1/services/{uid}/availability", {"weekly_hours": every_day})
    assert settings.status_code == 200, settings.text
    ids = [
        factories.booking(
            api,
            service_uid=uid,
            bot_user_ns=f"mover-{n}",
            start_time=f"2027-01-05T{n:02d}:00:00Z",
        )["id"]
        for n in range(20)
    ]
    target = {"start_time": "2027-01-06T12:00:00Z", "reason": "everyone wants noon"}
    answers = race([partial(api.post, f"/v1/bookings/{i}/reschedule", target) for i in ids])
    codes = Counter(
        a.status_code if a.status_code == 200 else a.json()["error"]["code"] for a in answers
    )
    assert codes == Counter({200: 1, "unavailable": 19})
    at_noon = api.get(
        "/v1/bookings", params={"service_uid": uid, "start_from": target["start_time"]}
    ).json()["data"]
    assert len(at_noon) == 1
