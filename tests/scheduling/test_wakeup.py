"""Waking sleeping schedulers (src/bookd/kit/wakeup.py): a change wakes them when it makes
something due within `WAKE_WITHIN`, the longest a scheduler may sleep; later work they find on
their own, so a booking weeks ahead costs no NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bookd.config import Settings
from bookd.kit import wakeup
from tests import factories
from tests.conftest import Api


@pytest.fixture
def wake() -> Iterator[asyncio.Event]:
    event = wakeup.subscribe()
    yield event
    wakeup.unsubscribe(event)


def test_far_work_wakes_no_one_and_near_work_does(api: Api, wake: asyncio.Event) -> None:
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], days=1)
    factories.booking(api, service_uid=svc["service_uid"], start_time=factories.future(days=30))
    assert not wake.is_set()

    # A meeting starting in four minutes (its day-before reminder is skipped): the start is near.
    factories.booking(
        api, service_uid=svc["service_uid"], start_time=factories.future(days=0, minutes=4)
    )
    assert wake.is_set()
    wake.clear()

    # A reminder a day before a meeting a day and three minutes ahead: the reminder is near.
    far = factories.booking(
        api, service_uid=svc["service_uid"], start_time=factories.future(days=1, minutes=3)
    )
    assert wake.is_set()
    wake.clear()

    # Rescheduled weeks ahead: nothing near, no one woken.
    moved = api.post(
        f"/v1/bookings/{far['id']}/reschedule",
        {"start_time": factories.future(days=20), "reason": "later"},
    )
    assert moved.status_code == 200, moved.text
    assert not wake.is_set()


@pytest.mark.parametrize("value", ["0", "-1", "301"])
def test_the_longest_sleep_stays_within_the_wake_horizon(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BOOKD_SCHEDULER_MAX_SLEEP", value)
    with pytest.raises(ValueError, match="BOOKD_SCHEDULER_MAX_SLEEP"):
        Settings.from_env()
    monkeypatch.setenv("BOOKD_SCHEDULER_MAX_SLEEP", "300")
    assert Settings.from_env().scheduler_max_sleep == 300
