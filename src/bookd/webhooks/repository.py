"""The statements of the delivery pipeline: which triggers may be sent to, claiming their due
deliveries in turn, recording a batch of attempts, handing back what was claimed, the circuit
breaker's counts, and deleting the events it is done with.

Each is one statement per table for a whole batch. Claiming differs by dialect: PostgreSQL takes
each trigger's share in a LATERAL subquery over one array of (trigger, how many) pairs, locking
with SKIP LOCKED so that several workers share the work; SQLite (one process, one writer) reads
the candidates of every trigger in one statement and trims them to each trigger's share here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bookd.events.models import Event
from bookd.kit.bulk import add_counts
from bookd.kit.db import UTCDateTime
from bookd.webhooks import counts
from bookd.webhooks.models import DELIVERY_DAYS, Delivery, DeliveryAttempt, Trigger
from bookd.workspaces.models import Workspace

DELIVERIES = cast(Table, Delivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
WORKSPACES = cast(Table, Workspace.__table__)
ENDED = ("succeeded", "failed")
TRIGGERS = cast(Table, Trigger.__table__)
EVENTS = cast(Table, Event.__table__)


@dataclass(frozen=True)
class Endpoint:
    """What sending to a trigger needs, read at every claim (a change of URL, secret or status
    takes effect at the next one)."""

    id: int
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    concurrency: int
    failures: int


@dataclass(frozen=True)
class Due:
    """A claimed delivery and the event it carries."""

    delivery_id: int
    trigger_id: int
    attempts: int
    final: bool
    event_id: str
    event_type: str
    occurred_at: datetime
    workspace_id: int
    data: str


@dataclass(frozen=True)
class Result:
    """One attempt's record and the delivery's next state."""

    delivery_id: int
    lease: str
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    succeeded: bool
    response: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    # A failure that speaks of the endpoint (not a receiver's refusal of one message): counted by
    # the circuit breaker.
    endpoint_failed: bool = False


async def endpoints(conn: AsyncConnection, now: datetime) -> list[Endpoint]:
    """The active triggers whose circuit is closed, or open with its wait over."""
    t = TRIGGERS.c
    rows = await conn.execute(
        select(
            t.id,
            t.url,
            t.secret,
            t.previous_secret,
            t.previous_secret_until,
            t.concurrency,
            t.failures,
        ).where(t.status == "active", (t.retry_at.is_(None)) | (t.retry_at <= now))
    )
    return [Endpoint(*row) for row in rows]


_PG_CLAIM = (
    text(
        """
WITH picked AS (
  SELECT p.id FROM unnest(:trigger_ids, :wants) AS w(trigger_id, want)
  CROSS JOIN LATERAL (
    SELECT d.id FROM deliveries d
    WHERE d.trigger_id = w.trigger_id AND d.status = 'pending' AND d.next_attempt_at <= :now
    ORDER BY d.next_attempt_at LIMIT w.want
    FOR UPDATE SKIP LOCKED
  ) p
), claimed AS (
  UPDATE deliveries d SET lease = :lease, next_attempt_at = :until
  FROM picked WHERE d.id = picked.id
  RETURNING d.id, d.trigger_id, d.attempts, d.final, d.event_seq
)
SELECT c.id, c.trigger_id, c.attempts, c.final, e.id, e.type, e.occurred_at, e.workspace_id,
       e.data
FROM claimed c JOIN events e ON e.seq = c.event_seq
"""
    )
    .bindparams(
        bindparam("trigger_ids", type_=ARRAY(Integer())),
        bindparam("wants", type_=ARRAY(Integer())),
        bindparam("now", type_=UTCDateTime()),
        bindparam("until", type_=UTCDateTime()),
        bindparam("lease", type_=String()),
    )
    .columns(occurred_at=UTCDateTime())
)

# Every trigger's oldest due deliveries, up to `:most` each (SQLite allows no correlated LIMIT:
# each trigger's own share is cut from these afterwards).
_SQLITE_CANDIDATES = text(
    """
SELECT d.id, d.trigger_id FROM json_each(:wants) AS w JOIN deliveries d ON d.id IN (
  SELECT x.id FROM deliveries x
  WHERE x.trigger_id = CAST(w.key AS INTEGER) AND x.status = 'pending'
    AND x.next_attempt_at <= :now
  ORDER BY x.next_attempt_at LIMIT :most)
"""
).bindparams(bindparam("now", type_=UTCDateTime()))


async def claim(
    conn: AsyncConnection, wants: dict[int, int], now: datetime, until: datetime, lease: str
) -> list[Due]:
    """Lease up to `wants[trigger]` due deliveries of each trigger, oldest first, until `until`."""
    wants = {trigger: want for trigger, want in wants.items() if want > 0}
    if not wants:
        return []
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(
            _PG_CLAIM,
            {
                "trigger_ids": list(wants),
                "wants": list(wants.values()),
                "now": now,
                "until": until,
                "lease": lease,
            },
        )
        return [Due(*row) for row in rows]
    candidates = await conn.execute(
        _SQLITE_CANDIDATES,
        {"wants": json.dumps(wants), "now": now, "most": max(wants.values())},
    )
    taken: dict[int, int] = {}
    ids = []
    for delivery_id, trigger_id in candidates:
        if taken.get(trigger_id, 0) < wants[trigger_id]:
            taken[trigger_id] = taken.get(trigger_id, 0) + 1
            ids.append(delivery_id)
    if not ids:
        return []
    d, e = DELIVERIES.c, EVENTS.c
    await conn.execute(
        update(DELIVERIES).where(d.id.in_(ids)).values(lease=lease, next_attempt_at=until)
    )
    rows = await conn.execute(
        select(
            d.id,
            d.trigger_id,
            d.attempts,
            d.final,
            e.id,
            e.type,
            e.occurred_at,
            e.workspace_id,
            e.data,
        )
        .join(EVENTS, e.seq == d.event_seq)
        .where(d.id.in_(ids))
    )
    return [Due(*row) for row in rows]


# The attempts and the deliveries' next states in one statement, so one commit: a batch is
# recorded whole or not at all (a retried batch never stores its attempts twice). An attempt is
# stored only while its delivery exists: a trigger deleted (with its deliveries) while the attempt
# was in flight leaves nothing to attach it to.
_PG_RECORD = text(
    """
WITH v AS (
  SELECT * FROM unnest(:ids, :leases, :statuses, :attempts, :nexts, :codes, :errors,
                       :attempted_at, :latency_ms, :succeeded, :response)
    AS v(id, lease, status, attempts, next_attempt_at, status_code, last_error,
         attempted_at, latency_ms, succeeded, response)
), stored AS (
  INSERT INTO delivery_attempts
    (delivery_id, attempted_at, status_code, latency_ms, succeeded, response)
  SELECT v.id, v.attempted_at, v.status_code, v.latency_ms, v.succeeded, v.response FROM v
  WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id)
)
UPDATE deliveries d SET
  status = v.status, attempts = v.attempts,
  next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
  lease = NULL, final = false, last_status_code = v.status_code, last_error = v.last_error,
  delivered_at = CASE WHEN v.status = 'succeeded' THEN :now ELSE d.delivered_at END,
  updated_at = :now
FROM v
WHERE d.id = v.id AND d.lease = v.lease
"""
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger())),
    bindparam("leases", type_=ARRAY(String())),
    bindparam("statuses", type_=ARRAY(String())),
    bindparam("attempts", type_=ARRAY(Integer())),
    bindparam("nexts", type_=ARRAY(UTCDateTime())),
    bindparam("codes", type_=ARRAY(Integer())),
    bindparam("errors", type_=ARRAY(String())),
    bindparam("attempted_at", type_=ARRAY(UTCDateTime())),
    bindparam("latency_ms", type_=ARRAY(Integer())),
    bindparam("succeeded", type_=ARRAY(Boolean())),
    bindparam("response", type_=ARRAY(Text())),
    bindparam("now", type_=UTCDateTime()),
)

_SQLITE_ATTEMPT = text(
    """
INSERT INTO delivery_attempts
  (delivery_id, attempted_at, status_code, latency_ms, succeeded, response)
SELECT :delivery_id, :attempted_at, :status_code, :latency_ms, :succeeded, :response
WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = :delivery_id)
"""
).bindparams(bindparam("attempted_at", type_=UTCDateTime()))

_SQLITE_RECORD = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("b_id"), DELIVERIES.c.lease == bindparam("b_lease"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=UTCDateTime()), DELIVERIES.c.next_attempt_at
        ),
        lease=None,
        final=False,
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        delivered_at=case(
            (bindparam("b_status") == "succeeded", bindparam("b_now", type_=UTCDateTime())),
            else_=DELIVERIES.c.delivered_at,
        ),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


async def record(conn: AsyncConnection, results: list[Result], now: datetime) -> None:
    """Store the attempts and each delivery's next state; a delivery whose lease is no longer
    this one's (it ran out and another worker took the delivery over) keeps what that one writes,
    and only the attempt is added."""
    if not results:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(
            _PG_RECORD,
            {
                "ids": [r.delivery_id for r in results],
                "leases": [r.lease for r in results],
                "statuses": [r.status for r in results],
                "attempts": [r.attempts for r in results],
                "nexts": [r.next_attempt_at for r in results],
                "codes": [r.status_code for r in results],
                "errors": [r.last_error for r in results],
                "attempted_at": [r.attempted_at for r in results],
                "latency_ms": [r.latency_ms for r in results],
                "succeeded": [r.succeeded for r in results],
                "response": [r.response for r in results],
                "now": now,
            },
        )
        return
    # SQLite: two statements, in the recorder's one transaction.
    await conn.execute(
        _SQLITE_ATTEMPT,
        [
            {
                "delivery_id": r.delivery_id,
                "attempted_at": r.attempted_at,
                "status_code": r.status_code,
                "latency_ms": r.latency_ms,
                "succeeded": r.succeeded,
                "response": r.response,
            }
            for r in results
        ],
    )
    await conn.execute(
        _SQLITE_RECORD,
        [
            {
                "b_id": r.delivery_id,
                "b_lease": r.lease,
                "b_status": r.status,
                "b_attempts": r.attempts,
                "b_next": r.next_attempt_at,
                "b_code": r.status_code,
                "b_error": r.last_error,
                "b_now": now,
            }
            for r in results
        ],
    )


async def count_ended(conn: AsyncConnection, results: list[Result], now: datetime) -> None:
    """Add the deliveries of `results` that ended (succeeded, or failed for good) to the analytics
    counters, on the workspace-local day they ended: those whose record this batch wrote (a lease
    taken over by another worker is counted by that worker's record)."""
    ended = {r.delivery_id: r for r in results if r.status in ENDED}
    if not ended:
        return
    d, w = DELIVERIES.c, WORKSPACES.c
    rows = await conn.execute(
        select(d.id, d.workspace_id, w.timezone)
        .join(WORKSPACES, w.id == d.workspace_id)
        .where(d.id.in_(list(ended)), d.updated_at == now, d.status.in_(ENDED))
    )
    totals: dict[tuple[int, date, int], dict[str, int]] = {}
    for delivery_id, workspace_id, timezone in rows:
        result = ended[delivery_id]
        day = now.astimezone(ZoneInfo(timezone)).date()
        into = totals.setdefault((workspace_id, day, delivery_id % counts.SHARDS), {})
        for column in counts.columns_of(result.status, result.latency_ms):
            into[column] = into.get(column, 0) + 1
    await add_counts(conn, DELIVERY_DAYS, counts.rows(totals))


async def release(conn: AsyncConnection, leased: list[tuple[int, str]], at: datetime) -> None:
    """Hand claimed deliveries back unattempted, due at `at` (a stopping worker's, or those of
    an endpoint whose circuit just opened)."""
    if not leased:
        return
    d = DELIVERIES.c
    await conn.execute(
        update(DELIVERIES)
        .where(d.id.in_([i for i, _ in leased]), d.lease.in_({lease for _, lease in leased}))
        .values(lease=None, next_attempt_at=at)
    )


async def count_failures(
    conn: AsyncConnection, trigger_id: int, *, streak: int, reset: bool, now: datetime
) -> tuple[int, datetime | None, str] | None:
    """Count a batch's outcomes for one trigger into its circuit: with `reset` (an attempt
    succeeded) the count restarts at the failures after the last success, else grows by them.
    The trigger's failures in a row, failing since, and status; None if the trigger is gone."""
    t = TRIGGERS.c
    values: dict[str, Any]
    if reset:
        values = {
            "failures": streak,
            "failing_since": now if streak else None,
            "retry_at": None,
        }
    else:
        values = {
            "failures": t.failures + streak,
            "failing_since": func.coalesce(t.failing_since, bindparam("since", now, UTCDateTime())),
        }
    row = (
        await conn.execute(
            update(TRIGGERS)
            .where(t.id == trigger_id)
            .values(**values)
            .returning(t.failures, t.failing_since, t.status)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


async def open_circuit(conn: AsyncConnection, trigger_id: int, until: datetime) -> None:
    t = TRIGGERS.c
    await conn.execute(update(TRIGGERS).where(t.id == trigger_id).values(retry_at=until))


async def disable(conn: AsyncConnection, trigger_id: int, reason: str, now: datetime) -> None:
    t = TRIGGERS.c
    await conn.execute(
        update(TRIGGERS)
        .where(t.id == trigger_id, t.status == "active")
        .values(status="disabled", disabled_reason=reason[:200], retry_at=None, updated_at=now)
    )


def last_success_latency(delivery_ids: Any = None) -> Any:
    """(delivery_id, latency_ms) of each delivery's last succeeded attempt, of those whose id is in
    `delivery_ids` (a selectable or list; None: all). Its counters were kept with that attempt:
    the recorder counts the attempt that ends a delivery, and a delivery sent again ends again."""
    a = DeliveryAttempt
    last = select(func.max(a.id)).where(a.succeeded)
    if delivery_ids is not None:
        last = last.where(a.delivery_id.in_(delivery_ids))
    return select(a.delivery_id, a.latency_ms).where(a.id.in_(last.group_by(a.delivery_id)))


async def prune_events(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Delete up to `limit` events that occurred before `cutoff`, have been relayed and have no
    pending delivery (their deliveries go with them); how many."""
    unfinished = select(Delivery.id).where(
        Delivery.event_seq == Event.seq, Delivery.status == "pending"
    )
    old = (
        select(Event.seq)
        .where(Event.occurred_at < cutoff, Event.relayed.is_(True), ~unfinished.exists())
        .limit(limit)
    )
    seqs = list((await session.scalars(old)).all())
    if seqs:
        await session.execute(delete(Event).where(Event.seq.in_(seqs)))
    return len(seqs)
