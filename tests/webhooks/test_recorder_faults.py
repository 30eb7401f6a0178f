"""The delivery recorder stores a batch all or nothing: a failure after the attempts are written,
or in the circuit verdict of the batch's second trigger, leaves nothing behind, and the retry
stores each attempt once, counts each ended delivery once and each trigger's failures once.

The faults are raised by the database connection itself (a SQLAlchemy cursor event), at the
statement named, the first time it runs in a batch; both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.analytics.service import rebuild
from bookd.webhooks.models import DeliveryAttempt
from bookd.worker import Worker
from bookd.workspaces.models import Workspace
from tests.conftest import Api
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import Hooks, delivery_counters


class InjectedFault(Exception):
    """What the database connection raises at the chosen statement."""


@contextmanager
def fault(client: TestClient, where: str) -> Iterator[list[str]]:
    """Fail one statement of the recorder once, at `where`: "counters" (adding the batch's ended
    deliveries to the analytics counters, after the attempts are written) or "second verdict"
    (counting the failures of the second trigger judged in a batch). Yields the statements that
    were failed."""
    engine = client.app.state.db.engine.sync_engine  # type: ignore[attr-defined]
    failed: list[str] = []
    verdicts = 0

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal verdicts
        if failed:
            return
        sql = " ".join(statement.split()).lower()
        if "insert into delivery_attempts" in sql:
            verdicts = 0  # a new batch (or its retry) begins
        elif "update triggers set failures" in sql:
            verdicts += 1
            if where == "second verdict" and verdicts == 2:
                failed.append(sql)
                raise InjectedFault(sql)
        elif where == "counters" and "insert into delivery_days" in sql:
            failed.append(sql)
            raise InjectedFault(sql)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def attempts_of(session: AsyncSession, delivery_id: int) -> int:
    a = DeliveryAttempt
    query = select(func.count()).select_from(a).where(a.delivery_id == delivery_id)
    return int((await session.execute(query)).scalar_one())


@pytest.mark.parametrize("where", ["counters", "second verdict"])
def test_a_batch_whose_recording_fails_is_stored_once_by_the_retry(
    api: Api,
    client: TestClient,
    worker: Worker,
    hooks: Hooks,
    receiver: Receiver,
    where: str,
) -> None:
    # One trigger whose deliveries succeed (ended: counted) and two whose endpoints fail (their
    # circuits' counts), all attempted in one batch.
    hooks.add("fine", concurrency=4)
    for name in ("down", "broken"):
        hooks.add(name, concurrency=4)
        receiver.answer(500, times=100, name=name)
    for name in ("fine", "down", "broken"):
        for _ in range(2):
            hooks.test_event(name)

    assert client.portal is not None
    try:
        with fault(client, where) as failed:
            statuses = client.portal.call(worker.deliver, datetime.now(UTC))
    finally:
        client.portal.call(worker.dispatcher.aclose)
    assert failed, "the fault was not reached"
    assert sorted(statuses).count("pending") >= 4

    # Each request the receivers saw is stored once, as its delivery's only attempt.
    for name in ("fine", "down", "broken"):
        deliveries = hooks.deliveries(name)
        assert len(deliveries) == 2 and len(receiver.at(name)) == 2
        for delivery in deliveries:
            assert delivery["attempts"] == 1, delivery
            assert api.run(lambda s, d=delivery: attempts_of(s, d["id"])) == 1
        expected = "succeeded" if name == "fine" else "pending"
        assert {d["status"] for d in deliveries} == {expected}

    # The counters hold the two ended deliveries, as a rebuild makes them.
    kept = api.run(lambda s: delivery_counters(s, api.workspace_id))
    assert kept.get("succeeded") == 2, kept

    async def made_again(session: AsyncSession) -> None:
        workspace = await session.get(Workspace, api.workspace_id)
        assert workspace is not None
        await rebuild(session, workspace)

    api.run(made_again)
    assert api.run(lambda s: delivery_counters(s, api.workspace_id)) == kept

    # Each failing trigger counts its two failed attempts once; the fine one none.
    assert hooks.get("fine")["failures"] == 0
    assert hooks.get("down")["failures"] == 2
    assert hooks.get("broken")["failures"] == 2
