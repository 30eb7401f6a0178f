"""`[MANAGE_URL]` in reminder and follow-up texts, on both databases: the scheduler renders the
self-service link of the booking with a new customer token of its bot user, issued in the
transaction of the send, expiring after the booking's last follow-up; a text without the
placeholder, or a message not sent, issues none."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.policy import LINK_MARGIN
from bookd.config import LOCAL_URL
from bookd.kit import changes
from bookd.kit.tokens import hash_key
from bookd.scheduling import scheduler
from bookd.worker import Worker
from bookd.workspaces.models import BotUser, CustomerToken
from tests import factories
from tests.conftest import Api, TestClock
from tests.selfservice.support import page

LINK = re.compile(r"(https?://\S+?)/my/(\d+)\?t=(bkc_[A-Za-z0-9_-]+)")


@pytest.fixture
def t0() -> datetime:
    """A whole minute a little ahead, so bookings of other tests (weeks ahead) are not due."""
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)


def worker(client: TestClient, clock: TestClock, **settings: Any) -> Worker:
    app: Any = client.app
    return Worker(app.state.db, app.state.settings.replace(**settings), clock=clock)


def drain(client: TestClient, clock: TestClock, now: datetime, **settings: Any) -> None:
    assert client.portal is not None
    client.portal.call(worker(client, clock, **settings).drain, now)


def tokens(api: Api, ns: str) -> list[dict[str, Any]]:
    listed = api.get("/v1/customer-tokens", params={"bot_user_ns": ns})
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


def sent(api: Api, booking_id: int, kind: str) -> list[dict[str, Any]]:
    event_type = "REMINDER_SENDING" if kind == "reminder" else "FOLLOWUP_SENDING"
    return [e["data"][kind] for e in factories.events(api, booking_id=booking_id, type=event_type)]


def stored_hashes(api: Api, token_ids: list[int]) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(CustomerToken.token_hash).where(CustomerToken.id.in_(token_ids))
        )
        return list(rows.all())

    return api.run(work)


def test_a_reminder_carries_its_bookings_link(
    api: Api, client: TestClient, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    uid = factories.service(api, default_duration=30)["service_uid"]
    factories.template(
        api,
        uid,
        title="Soon: [SERVICE]",
        description="Change it: [MANAGE_URL] ([TIME])",
        minutes=10,
    )
    factories.template(api, uid, "followups", title="Thanks", hours=2)
    factories.template(api, uid, "followups", title="Rate us", days=1)
    gone = factories.template(api, uid, "followups", title="Inactive", days=3)
    paused = api.patch(f"/v1/services/{uid}/followups/{gone['sequence']}", {"status": "inactive"})
    assert paused.status_code == 200, paused.text
    start = t0 + timedelta(minutes=20)
    booking = factories.booking(
        api, service_uid=uid, bot_user_ns="ada", start_time=factories.iso(start)
    )
    assert tokens(api, "ada") == []

    drain(client, clock, t0 + timedelta(minutes=10))
    [reminder] = sent(api, booking["id"], "reminder")
    found = LINK.search(reminder["description"])
    assert found, reminder["description"]
    base, booking_id, token = found.groups()
    # Without BOOKD_PUBLIC_URL: `bookd serve`'s own default address.
    assert (base, int(booking_id)) == (LOCAL_URL, booking["id"])
    assert reminder["description"].endswith(f"({start.strftime('%H:%M')})")
    [issued] = tokens(api, "ada")
    assert issued["created_at"] == factories.iso(t0 + timedelta(minutes=10))
    end = start + timedelta(minutes=30)
    # The last active follow-up (a day after the end), and the margin after it.
    assert issued["expires_at"] == factories.iso(end + timedelta(days=1) + LINK_MARGIN)
    assert stored_hashes(api, [issued["id"]]) == [hash_key(token)]  # only its hash is kept

    clock.fixed = None
    customer = client.get(f"/my/{booking_id}?t={token}", follow_redirects=False)
    assert customer.status_code == 303 and customer.headers["location"] == page(booking["id"])
    client.cookies.clear()


def test_a_follow_up_link_and_the_public_url(
    api: Api, client: TestClient, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    uid = factories.service(api, default_duration=15)["service_uid"]
    factories.template(api, uid, "followups", title="How was it? [MANAGE_URL]", minutes=0)
    factories.template(api, uid, "followups", title="Still there? [MANAGE_URL]", minutes=0)
    start = t0 + timedelta(minutes=1)
    booking = factories.booking(
        api, service_uid=uid, bot_user_ns="bob", start_time=factories.iso(start)
    )
    end = start + timedelta(minutes=15)
    drain(client, clock, end, public_url="https://book.example.com/base")
    followups = sent(api, booking["id"], "followup")
    assert len(followups) == 2
    links = {LINK.search(f["title"]).groups() for f in followups}  # type: ignore[union-attr]
    # Both messages of the booking in one batch: one link, one token.
    assert len(links) == 1
    base, _, token = links.pop()
    assert base == "https://book.example.com/base"
    [issued] = tokens(api, "bob")
    assert issued["expires_at"] == factories.iso(end + LINK_MARGIN)
    assert token


def test_no_placeholder_or_no_send_issues_no_token(
    api: Api, client: TestClient, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Plain", description="See you at [TIME]", minutes=30)
    factories.template(api, uid, title="Late [MANAGE_URL]", hours=5)
    start = t0 + timedelta(hours=6)
    booking = factories.booking(
        api, service_uid=uid, bot_user_ns="cy", start_time=factories.iso(start)
    )
    # The second reminder falls due an hour from t0 and is 4 hours late when the scheduler runs:
    # skipped, not sent. The first is sent, without a link.
    drain(client, clock, start - timedelta(minutes=30))
    reminders = api.get(f"/v1/bookings/{booking['id']}/reminders").json()["data"]
    assert [(r["title"], r["status"]) for r in reminders] == [
        ("Plain", "sent"),
        ("Late [MANAGE_URL]", "skipped"),
    ]
    assert tokens(api, "cy") == []


def test_a_batch_rolled_back_leaves_no_token(
    api: Api, client: TestClient, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="[MANAGE_URL]", minutes=10)
    factories.booking(
        api, service_uid=uid, bot_user_ns="dee", start_time=factories.iso(t0 + timedelta(hours=1))
    )
    app: Any = client.app
    due = t0 + timedelta(minutes=50)
    # Whatever else in this database falls due before, out of the way of the one batch below.
    drain(client, clock, due - timedelta(seconds=1))

    class Abort(Exception):
        pass

    async def batch_then_fail() -> None:
        async with app.state.db.transaction() as session:
            result = await scheduler.run_batch(
                session,
                due,
                batch_size=100,
                stale_window=timedelta(hours=2),
                link_base=LOCAL_URL,
            )
            assert result.counts["reminder_sent"] >= 1
            await changes.write(session)  # as the transaction's owner does before its commit
            written = await session.scalars(
                select(CustomerToken.id)
                .join(BotUser, BotUser.id == CustomerToken.bot_user_id)
                .where(BotUser.workspace_id == api.workspace_id, BotUser.ns == "dee")
            )
            assert written.all()  # in the batch's transaction
            raise Abort

    assert client.portal is not None
    with pytest.raises(Abort):
        client.portal.call(batch_then_fail)
    assert tokens(api, "dee") == []
