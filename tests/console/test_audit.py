"""The audit log as the console shows it: changes in words, in the workspace's zone."""

from __future__ import annotations

from types import SimpleNamespace
from zoneinfo import ZoneInfo

from bookd.console.audit import actor_name, describe
from bookd.console.web import offset_text

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_reschedule_reads_as_old_and_new_start_in_local_time() -> None:
    details = {
        "old": {"start_time": "2026-12-02T09:30:00Z", "end_time": "2026-12-02T10:00:00Z", "duration": 30},
        "new": {"start_time": "2026-12-03T09:40:00Z", "end_time": "2026-12-03T10:25:00Z", "duration": 45},
        "reason": "asked for Thursday",
    }  # fmt: skip
    assert describe(details, BERLIN) == (
        "start Wed 02 Dec 2026 10:30 → Thu 03 Dec 2026 10:40, duration 30 → 45 min, "
        "reason “asked for Thursday”"
    )


def test_ratings_changes_overrides_and_the_clock() -> None:
    assert describe({"old": None, "new": 5}, BERLIN) == "rating — → 5"
    changes = {"changes": {"location": {"old": None, "new": "Room 2"}}}
    assert describe(changes, BERLIN) == "location — → “Room 2”"
    forced = {"forced": {"code": "fully_booked", "message": "the time is fully booked"}}
    assert describe(forced, BERLIN) == "forced despite: the time is fully booked (fully_booked)"
    assert describe({"due_at": "2026-07-01T08:00:00Z"}, BERLIN) == "due Wed 01 Jul 2026 10:00"
    assert describe({"reason": "ill"}, BERLIN) == "reason “ill”"
    assert describe({}, BERLIN) == ""
    assert describe({"other": 3}, BERLIN) == "other 3"


def test_actors_by_name() -> None:
    names = {"admin_user:1": "owner@example.com", "api_key:2": "API key “crm”"}
    assert actor_name("admin_user:1", names) == "owner@example.com"
    assert actor_name("api_key:2", names) == "API key “crm”"
    assert actor_name("api_key:9", names) == "API key 9"  # revoked and gone: still said in words
    assert actor_name("customer:4", names) == "customer token 4"
    assert actor_name("scheduler", names) == "scheduler"


def test_offsets_as_people_say_them() -> None:
    def offset(days: int, hours: int, minutes: int) -> str:
        return offset_text(SimpleNamespace(days=days, hours=hours, minutes=minutes))

    assert offset(1, 0, 0) == "1 day"
    assert offset(2, 3, 0) == "2 days 3 h"
    assert offset(0, 0, 30) == "30 min"
    assert offset(0, 1, 15) == "1 h 15 min"
    assert offset(0, 0, 0) == "0 min"
