"""An API key's `last_used_at`: set by the requests that use it, read or write, to the minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.workspaces.models import ApiKey
from tests.conftest import Api, TestClock
from tests.console.support import signed_in


def last_used(api: Api) -> list[datetime | None]:
    async def work(session: AsyncSession) -> list[datetime | None]:
        query = select(ApiKey.last_used_at).where(ApiKey.workspace_id == api.workspace_id)
        return list((await session.scalars(query)).all())

    return api.run(work)


def test_a_key_records_when_it_was_last_used(api: Api, clock: TestClock) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock.set(t0)
    assert last_used(api) == [None]
    assert api.get("/v1/services").status_code == 200  # a read counts
    assert last_used(api) == [t0]

    # Within the minute: not written again.
    clock.set(t0 + timedelta(seconds=59))
    assert api.post("/v1/actions/list_booking_services").status_code == 200
    assert last_used(api) == [t0]

    clock.set(t0 + timedelta(minutes=5))
    created = api.post("/v1/services", {"name": "S", "service_uid": "s", "default_duration": 30})
    assert created.status_code == 201  # and so does a write
    assert last_used(api) == [t0 + timedelta(minutes=5)]


def test_a_refused_key_records_nothing(api: Api, clock: TestClock) -> None:
    clock.set(datetime.now(UTC).replace(microsecond=0))
    wrong = api.get("/v1/services", headers={"Authorization": f"Bearer {api.key}x"})
    assert wrong.status_code == 401
    assert last_used(api) == [None]


def test_the_console_shows_when_each_key_was_last_used(api: Api, clock: TestClock) -> None:
    t0 = datetime(2031, 5, 6, 7, 8, tzinfo=UTC)
    clock.set(t0)
    page = signed_in(api).get("/settings")
    assert page.status_code == 200
    assert '<td data-label="Last used">never</td>' in page.text
    assert api.get("/v1/services").status_code == 200
    shown = signed_in(api).get("/settings").text
    assert '<td data-label="Last used">Tue 06 May 2031 07:08 UTC</td>' in shown
