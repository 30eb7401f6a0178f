"""The analytics counters, kept by every change, equal a plain count of what the bookings, their
messages and the deliveries hold after any history; and `rebuild` makes the same counters again.
Both databases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.analytics.service import rebuild
from bookd.bookings.counts import BOOKING_DAYS, BOOKING_REASONS
from bookd.config import Settings
from bookd.worker import Worker
from bookd.workspaces.models import Workspace
from tests import factories, sizes
from tests.conftest import Api, TestClock, new_workspace
from tests.webhooks.receiver import Hold, start_receiver
from tests.webhooks.support import delivery_counters

TZ = "America/New_York"  # days that are not UTC days, and a DST change within reach
# Reasons that differ in case and spacing only: one reason.
REASONS = ["Too expensive", "too  expensive", "Ill", " ILL ", "Moved away"]

Op = tuple[Any, ...]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 1), st.integers(5, 3 * 24 * 60)),
        st.tuples(st.just("confirm"), st.integers(0, 9)),
        st.tuples(st.just("cancel"), st.integers(0, 9), st.sampled_from(REASONS)),
        st.tuples(st.just("complete"), st.integers(0, 9)),
        st.tuples(st.just("no-show"), st.integers(0, 9)),
        st.tuples(
            st.just("reschedule"), st.integers(0, 9), st.integers(5, 3 * 24 * 60),
            st.sampled_from(REASONS),
        ),
        st.tuples(st.just("rating"), st.integers(0, 9), st.integers(0, 5)),
        st.tuples(st.just("delete"), st.integers(0, 9)),
        st.tuples(st.just("wait"), st.integers(1, 36 * 60)),
    ),
    min_size=1,
    max_size=14,
)  # fmt: skip


@pytest.fixture
def worker(client: TestClient, clock: TestClock) -> Iterator[Worker]:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    yield Worker(client.app.state.db, settings, clock=clock)  # type: ignore[attr-defined]


def run_history(api: Api, clock: TestClock, worker: Worker, history: list[Op]) -> None:
    services = []
    for name in ("Consultation", "Massage"):
        svc = factories.service(api, name=name)
        factories.template(api, svc["service_uid"], title="Tomorrow", days=1)
        factories.template(api, svc["service_uid"], title="Soon", minutes=30)
        factories.template(api, svc["service_uid"], "followups", title="Thanks", minutes=10)
        services.append(svc["service_uid"])
    made: list[int] = []
    for op in history:
        now = clock()
        if op[0] == "create":
            start = factories.iso(now + timedelta(minutes=op[2]))
            made.append(
                factories.booking(api, service_uid=services[op[1]], start_time=start,
                                  bot_user_ns=f"u{len(made)}")["id"]
            )  # fmt: skip
        elif op[0] == "wait":
            clock.advance(timedelta(minutes=op[1]))
            assert api.client.portal is not None
            api.client.portal.call(worker.drain, clock())
        elif made:
            booking = f"/v1/bookings/{made[op[1] % len(made)]}"
            body: dict[str, Any] | None = None
            if op[0] == "cancel":
                body = {"reason": op[2]}
            elif op[0] == "reschedule":
                start = factories.iso(now + timedelta(minutes=op[2]))
                body = {"start_time": start, "reason": op[3]}
            elif op[0] == "rating":
                body = {"rating": op[2]}
            if op[0] == "delete":
                answer = api.delete(booking)
            else:
                answer = api.post(f"{booking}/{op[0]}", body or {})
            assert answer.status_code < 500, answer.text


async def counters(
    session: AsyncSession, workspace_id: int
) -> dict[str, dict[tuple[Any, ...], int]]:
    """The counters, summed over their shards, zeros left out."""
    columns = [c.name for c in BOOKING_DAYS.columns][4:]
    days = BOOKING_DAYS.c
    found: dict[str, dict[tuple[Any, ...], int]] = {"days": {}, "reasons": {}}
    rows = await session.execute(
        select(days.service_id, days.day, *(func.sum(days[c]) for c in columns))
        .where(days.workspace_id == workspace_id)
        .group_by(days.service_id, days.day)
    )
    for service_id, day, *sums in rows:
        for column, amount in zip(columns, sums, strict=True):
            if amount:
                found["days"][(service_id, _day(day), column)] = int(amount)
    r = BOOKING_REASONS.c
    reasons = await session.execute(
        select(r.service_id, r.day, r.kind, r.reason_key, r.count).where(
            r.workspace_id == workspace_id, r.count != 0
        )
    )
    for service_id, day, kind, key, count in reasons:
        found["reasons"][(service_id, _day(day), kind, key)] = int(count)
    return found


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def scan(session: AsyncSession, workspace_id: int) -> dict[str, dict[tuple[Any, ...], int]]:
    """The same figures counted the plain way, from the rows as they are now."""
    tz = ZoneInfo(TZ)

    def day(value: datetime) -> date:
        return value.astimezone(tz).date()

    bookings = (
        await session.execute(
            text(
                "SELECT id, service_id, status, created_at, start_time, reschedule_count, rating, "
                "cancel_reason, reschedule_reason FROM bookings WHERE workspace_id = :w"
            ),
            {"w": workspace_id},
        )
    ).all()
    messages = (
        await session.execute(
            text(
                "SELECT m.booking_id, m.kind, m.status, m.scheduled_at FROM booking_messages m "
                "JOIN bookings b ON b.id = m.booking_id WHERE b.workspace_id = :w"
            ),
            {"w": workspace_id},
        )
    ).all()
    days: dict[tuple[Any, ...], int] = defaultdict(int)
    reasons: dict[tuple[Any, ...], int] = defaultdict(int)
    service_of = {}
    sent_reminder = set()
    for booking_id, kind, status, at in messages:
        at = _utc(at)
        if status in ("sent", "skipped"):
            service = next(b[1] for b in bookings if b[0] == booking_id)
            days[(service, day(at), f"{kind}s_{status}")] += 1
        if kind == "reminder" and status == "sent":
            sent_reminder.add(booking_id)
    for id_, service, status, created, start, reschedules, rating, cancel, moved in bookings:
        created, start = _utc(created), _utc(start)
        service_of[id_] = service
        days[(service, day(created), "created")] += 1
        days[(service, day(start), status)] += 1
        minutes = max(0, (start - created) // timedelta(minutes=1))
        bounds = (60, 180, 360, 720, 1440, 2880, 4320, 10080, 20160, 43200, 86400)
        days[(service, day(start), f"lead_{sum(1 for b in bounds if minutes >= b)}")] += 1
        days[(service, day(start), "reschedules")] += reschedules
        if rating is not None:
            days[(service, day(start), "rated")] += 1
            days[(service, day(start), "rating_sum")] += rating
            days[(service, day(start), f"rating_{rating}")] += 1
        if status in ("completed", "no_show") and id_ in sent_reminder:
            days[(service, day(start), f"reminded_{status}")] += 1
        if status == "cancelled" and cancel:
            reasons[(service, day(start), "cancel", " ".join(cancel.lower().split()))] += 1
        if moved:
            reasons[(service, day(start), "reschedule", " ".join(moved.lower().split()))] += 1
    return {
        "days": {k: v for k, v in days.items() if v},
        "reasons": {k: v for k, v in reasons.items() if v},
    }


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.mark.soak
@settings(
    max_examples=sizes.examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=ops)
def test_the_counters_equal_a_scan_after_any_history(
    client: TestClient, clock: TestClock, worker: Worker, backend: str, history: list[Op]
) -> None:
    clock.set(datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=3))
    api = new_workspace(client, timezone=TZ, backend=backend)
    try:
        run_history(api, clock, worker, history)
    finally:
        clock.fixed = None
    kept = api.run(lambda s: counters(s, api.workspace_id))
    expected = api.run(lambda s: scan(s, api.workspace_id))
    assert kept == expected

    async def made_again(session: AsyncSession) -> None:
        workspace = await session.get(Workspace, api.workspace_id)
        assert workspace is not None
        await rebuild(session, workspace)

    api.run(made_again)
    assert api.run(lambda s: counters(s, api.workspace_id)) == expected


def test_delivery_counters_follow_each_end_and_retry(
    client: TestClient, worker: Worker, backend: str
) -> None:
    """Delivered slowly (counted, over a second), sent again by hand and refused (the success
    taken back, the failure counted), again and delivered at once: the counters kept equal a
    rebuild at every step, the latency of the last success counted, not the slowest."""
    receiver = start_receiver()
    api = new_workspace(client, timezone=TZ, backend=backend)
    try:
        hook = api.post("/v1/triggers", {"name": "crm", "url": receiver.url_for("crm")}).json()
        factories.booking(api, service_uid=factories.service(api)["service_uid"])

        def deliver() -> None:
            assert client.portal is not None
            for _ in range(20):
                if not client.portal.call(worker.deliver, datetime.now(UTC)):
                    return

        def kept_and_rebuilt() -> tuple[dict[str, int], dict[str, int]]:
            kept = api.run(lambda s: delivery_counters(s, api.workspace_id))

            async def made_again(session: AsyncSession) -> None:
                workspace = await session.get(Workspace, api.workspace_id)
                assert workspace is not None
                await rebuild(session, workspace)

            api.run(made_again)
            return kept, api.run(lambda s: delivery_counters(s, api.workspace_id))

        receiver.serve("crm", Hold(seconds=1.2))
        deliver()
        receiver.behaviours.clear()
        kept, rebuilt = kept_and_rebuilt()
        assert kept == rebuilt and kept["succeeded"] == 1 and "failed" not in kept
        assert sum(kept.get(f"latency_{i}", 0) for i in range(5)) == 0, kept  # 1 s or more
        (delivery,) = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"]
        receiver.answer(500)
        assert api.post(f"/v1/deliveries/{delivery['id']}/retry").status_code == 200
        deliver()
        kept, rebuilt = kept_and_rebuilt()
        assert kept == rebuilt == {"failed": 1}
        assert api.post(f"/v1/deliveries/{delivery['id']}/retry").status_code == 200
        deliver()
        kept, rebuilt = kept_and_rebuilt()
        assert kept == rebuilt and kept["succeeded"] == 1 and "failed" not in kept
        assert sum(kept.get(f"latency_{i}", 0) for i in range(5)) == 1, kept  # under a second
    finally:
        for trigger in api.get("/v1/triggers").json()["data"]:
            api.delete(f"/v1/triggers/{trigger['id']}")
        receiver.close()
