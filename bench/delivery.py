"""Workload 6: delivered lateness. When does a reminder's webhook reach its endpoint, counted from
the reminder's due time? Workload 2 stops at the event committed; this one follows the event on
through the relay, the delivery queue and the HTTP client to a receiver, which is what a user of
the webhooks sees, and what a slow endpoint of another workspace must not hold up.

`bookd serve` runs as `make run` starts it (API, scheduler and deliveries in one process), on
PostgreSQL and on SQLite. The receiver (bench/receiver.py) runs in a process of its own and
records every arrival's wall time. The triggers are made through the API after seeding, for
`REMINDER_SENDING` only. Each reminder has a booking of its own, and most bot users have that one
booking only (each payload carries its bot user: a handful of users, cached, would flatter).

- (a) 1,000 reminders fall due at every whole second for 60 s, one trigger: p50, p99 and max of
  arrival - due time over all of them, every one of which must arrive;
- (c) right after (a), in the same process, the same stream for 60 s more while another
  workspace's trigger points at the receiver's slow path (answers after 8 s) and 500 of its
  deliveries fall due at (c)'s first second: the first workspace's p99, beside (a)'s. One process
  for both: the stream goes on without a break, and a seeding and a start-up fewer save half a
  minute a database;
- (b) in a fresh database and process, 10,000 reminders due in the same second: from the due time
  to the last arrival, and deliveries per second;
- (d) in a fresh database and process, a burst amid meeting starts: the services remind once, a
  minute before the start; 500 reminders fall due at every whole second for 30 s (so their
  meetings start a minute later, 500 a second), then 5,000 at once in the middle of those
  starts (their meetings a minute later still). For the 5,000: from the due time to the last
  arrival, p50 and p99 of arrival - due time, deliveries per second; every one must arrive. Each
  booking is pending or confirmed, as the scheduler starts them; the log says how many meetings
  started while the burst was being delivered (from the bookings' status and `updated_at`, read
  after bookd stopped).

Baselines in the same run, no database: the client floor, aiohttp (the client bookd sends with)
posting bodies of the same shape and size to the same receiver with PER_TRIGGER requests in
flight, as bookd allows one trigger; and the client comparison, aiohttp against httpx.AsyncClient
at PER_TRIGGER and 32 in flight. They run in a process of their own on uvloop, as `bookd serve`
does, each twice, the better run counting. The receiver's CPU time per request is measured
meanwhile: it must not be what limits the delivery rate.

A reminder that has not arrived when the bench stops waiting (GRACE after the last due time)
counts at the wait so far, a lower bound, and its rows are not met; the bench goes on. Errors of
the harness (a late start twice, bookd or the receiver gone, a trigger refused) raise.

BOOKD_BENCH_QUICK=1: 10 s instead of 60, 2,000 at once instead of 10,000; for (d), 10 s of the
stream instead of 30 and 2,000 at once instead of 5,000 (the minute before each start stays).
BOOKD_BENCH_W6_RATE, _SECONDS, _BURST and _SLOW set the sizes, _D_RATE, _D_SECONDS and _D_BURST
(d)'s (to try the harness on a pipeline slower than the targets). `python -m bench.delivery
RECEIVER_URL SECONDS ROUNDS` runs the client measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import httpx

from bench import seed
from bench.common import (
    BOOKD,
    Counter,
    Row,
    compare,
    free_port,
    fresh_postgres,
    fresh_sqlite,
    log,
    percentile,
    scaled,
    start,
    stop,
    wait_http,
)
from bench.receiver import SLOW_SECONDS

# Requests bookd keeps in flight to one trigger (its default per-trigger concurrency); the client
# floor runs as many, so that (b), one trigger's burst, is compared with what the client alone does
# under the same limit.
PER_TRIGGER = 8
CLIENTS = ("aiohttp", "httpx")
STEADY_PATH = "/hooks/steady"
SLOW_PATH = "/hooks/slow"  # the receiver answers paths ending in /slow after SLOW_SECONDS
# How long after the last due time deliveries may still arrive before the bench stops waiting:
# six times the p99 target, three times the SQLite burst's, twice the 30 s (d)'s burst took on
# SQLite when first measured (a healthy run needs a second or two).
GRACE = 60.0
POLL = 0.2  # the receiver's counts are read this often while waiting: next to no load on it
FLOOR_WARMUP = 0.5  # connections opened, before the floor's counting starts
# Each client measurement this many times, interleaved, the best counting: on a shared machine one
# short run can land on another's burst of work.
FLOOR_ROUNDS = 2
BODIES = 1000  # distinct floor bodies, cycled
# (d)'s services remind once, a minute before the start (the seed's (days, hours, minutes, title,
# description)), with the 1-hour reminder's text: bodies of the same size as the other cases'.
START_AFTER = timedelta(minutes=1)
MINUTE_BEFORE = [(0, 0, 1, "In a minute: [SERVICE] at [TIME]", seed.REMINDERS[1][4])]


def _size(name: str, full: int, quick: int) -> int:
    """A size: `full`, `quick` under BOOKD_BENCH_QUICK=1, or BOOKD_BENCH_W6_<NAME>."""
    return int(os.environ.get(f"BOOKD_BENCH_W6_{name}", scaled(full, quick)))


def _lead(bookings: int) -> float:
    """Seconds from the start of seeding to the first due time. Seeding writes 5,000 to 7,000
    bookings a second here (each with its bot user and three reminder rows, on either database)
    and `bookd serve` starts in about 3 s: 120,500 bookings are ready after about 25 s, with a
    lead of 32 s. A busy machine may need more: see `_leading`."""
    return 12.0 + bookings / 6_000


class LateStart(RuntimeError):
    """Seeding and start-up outran the lead: due times would pass before the triggers exist."""


T = TypeVar("T")


def _leading(label: str, bookings: int, measure: Callable[[float], T]) -> T:
    """`measure(lead)`; once more, in a fresh database, with twice the lead if seeding and
    start-up outran it (another load on the machine), rather than a lead long enough for the worst
    case in every run. A second late start is an error."""
    try:
        return measure(_lead(bookings))
    except LateStart as exc:
        log(f"{label}: {exc}; once more with twice the lead")
        return measure(2 * _lead(bookings))


# --- the receiver ------------------------------------------------------------------------------


@dataclass
class Arrivals:
    """What the receiver recorded, column by column (one entry per request)."""

    time: list[float]
    path: list[str]
    webhook_id: list[str | None]
    booking: list[int | None]
    size: list[int]

    def first(self, path: str) -> dict[int, float]:
        """Booking id -> its first arrival on `path` (a repeat is not a later delivery)."""
        seen: dict[int, float] = {}
        for at, where, booking in zip(self.time, self.path, self.booking, strict=True):
            if (
                where == path
                and booking is not None
                and (booking not in seen or at < seen[booking])
            ):
                seen[booking] = at
        return seen

    def requests(self, path: str) -> int:
        return sum(1 for where in self.path if where == path)

    def repeats(self, path: str) -> int:
        """Requests to `path` that carried a `webhook-id` seen before there: deliveries sent
        again (at least once is the promise; the receiver is to drop them by that id)."""
        ids = [wid for wid, where in zip(self.webhook_id, self.path, strict=True) if where == path]
        return len(ids) - len(set(ids))

    def mean_size(self, path: str) -> float:
        sizes = [n for n, where in zip(self.size, self.path, strict=True) if where == path]
        return sum(sizes) / len(sizes) if sizes else 0.0


class Receiver:
    """The receiver's process and the calls that read it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = start(
            [sys.executable, "-m", "bench.receiver", "--port", str(self.port)],
            log_name="w6_receiver",
        )
        wait_http(self.port)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reset(self) -> None:
        self.http.post("/reset").raise_for_status()

    def count(self) -> dict[str, Any]:
        response = self.http.get("/count")
        response.raise_for_status()
        counts: dict[str, Any] = response.json()
        return counts

    def bookings(self, path: str) -> int:
        """Distinct bookings arrived on `path` so far."""
        return int(self.count()["paths"].get(path, {}).get("bookings", 0))

    def results(self) -> Arrivals:
        response = self.http.get("/results")
        response.raise_for_status()
        return Arrivals(**response.json())

    def close(self) -> None:
        self.http.close()
        stop(self.proc, timeout=10)


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


def _await(
    receiver: Receiver,
    path: str,
    expected: int,
    *,
    until: float,
    proc: subprocess.Popen[bytes],
) -> bool:
    """Wait until `expected` distinct bookings arrived on `path`, or the wall time `until`;
    whether they all did. bookd exiting meanwhile is an error, not a slow run."""
    while True:
        if receiver.bookings(path) >= expected:
            return True
        if proc.poll() is not None:
            raise RuntimeError(f"bookd serve exited with {proc.returncode} (see its log)")
        if time.time() > until:
            return False
        time.sleep(POLL)


# --- bookd -------------------------------------------------------------------------------------


@dataclass
class Lateness:
    """Arrival - due time of the reminders of one measurement, in ms. A reminder that had not
    arrived when the bench stopped waiting counts at the wait so far (a lower bound), so that the
    percentiles are never better than the truth."""

    ms: list[float]
    arrived: int

    @property
    def total(self) -> int:
        return len(self.ms)

    @property
    def complete(self) -> bool:
        return self.arrived == self.total

    def p(self, q: float) -> float:
        return percentile(self.ms, q)


def _lateness(due: dict[int, float], first: dict[int, float], gave_up: float) -> Lateness:
    return Lateness(
        ms=[(first.get(booking, gave_up) - at) * 1000 for booking, at in due.items()],
        arrived=sum(1 for booking in due if booking in first),
    )


def _seed(
    url: str,
    groups: list[list[datetime]],
    *,
    reminders: list[tuple[int, int, int, str, str]] = seed.REMINDERS,
    due_sequence: int = seed.DUE_SEQUENCE,
) -> list[seed.Tenant]:
    """A workspace per group of due times, with a booking per due time and about as many bot
    users as bookings (so most of them have this one booking only); booking ids run on from one
    group to the next, from 1. The services' reminders are `reminders`, the one of `due_sequence`
    falling due (the seed's 1-hour one unless told)."""
    seed.migrate_db(url)

    async def run() -> list[seed.Tenant]:
        tenants: list[seed.Tenant] = []
        first_id = 1
        for times in groups:
            (tenant,) = await seed.make_tenants(
                url, count=1, bot_users=max(1, len(times)), reminders=reminders
            )
            if times:
                await seed.seed_due(
                    url, [tenant], times, first_id=first_id, due_sequence=due_sequence
                )
            tenants.append(tenant)
            first_id += len(times)
        return tenants

    return asyncio.run(run())


@contextlib.contextmanager
def serving(url: str, label: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`bookd serve` as `make run` starts it, on `url`, allowed to deliver to 127.0.0.1."""
    port = free_port()
    proc = start(
        [BOOKD, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={"BOOKD_DATABASE_URL": url, "BOOKD_WEBHOOK_ALLOW_PRIVATE": "true"},
        log_name=label,
    )
    try:
        wait_http(port)
        yield port, proc
    finally:
        stop(proc)


def _trigger(port: int, api_key: str, name: str, url: str) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/triggers",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"name": name, "url": url, "event_types": ["REMINDER_SENDING"]},
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"POST /v1/triggers: {response.status_code} {response.text[:500]}")


def _ready(label: str, first_due: float) -> None:
    spare = first_due - time.time()
    if spare < 2:
        raise LateStart(f"seeding and start-up ended {spare:.1f} s before the first due time")
    log(f"{label}: ready {spare:.1f} s before the first due time")


@dataclass
class Stream:
    a: Lateness
    c: Lateness
    slow_requests: int


def stream(
    receiver: Receiver,
    maker: Callable[[str], AbstractContextManager[str]],
    label: str,
    lead: float,
    *,
    rate: int,
    seconds: int,
    slow: int,
) -> Stream:
    """(a) then (c): one steady stream of 2 x `seconds` s; `slow` deliveries to the slow path fall
    due with the second half's first second."""
    bookings = 2 * rate * seconds
    began = time.time()
    first = datetime.fromtimestamp(int(began + lead), UTC)
    times = [first + timedelta(seconds=s) for s in range(2 * seconds) for _ in range(rate)]
    slow_at = first + timedelta(seconds=seconds)
    due = {n + 1: at.timestamp() for n, at in enumerate(times)}
    half = rate * seconds
    with maker("w6_stream") as url:
        steady, struggling = _seed(url, [times, [slow_at] * slow])
        log(f"{label}: seeded {bookings + slow:,} bookings in {time.time() - began:.1f} s")
        receiver.reset()
        with serving(url, label) as (port, proc):
            _trigger(port, steady.api_key, "bench steady", receiver.url(STEADY_PATH))
            _trigger(port, struggling.api_key, "bench slow", receiver.url(SLOW_PATH))
            _ready(label, first.timestamp())
            cpu = receiver.count()["cpu"]
            _await(receiver, STEADY_PATH, len(due), until=times[-1].timestamp() + GRACE, proc=proc)
            gave_up = time.time()
            arrivals = receiver.results()
            cpu = receiver.count()["cpu"] - cpu
    first_seen = arrivals.first(STEADY_PATH)
    result = Stream(
        a=_lateness({b: at for b, at in due.items() if b <= half}, first_seen, gave_up),
        c=_lateness({b: at for b, at in due.items() if b > half}, first_seen, gave_up),
        slow_requests=arrivals.requests(SLOW_PATH),
    )
    repeats = arrivals.repeats(STEADY_PATH)
    strays = len(first_seen.keys() - due.keys())
    if strays:
        # Only the steady workspace's reminders may come to its path: another workspace's there
        # means a trigger matched what it should not.
        log(f"{label}: {strays} BOOKINGS NOT OF THE STEADY WORKSPACE arrived on its path")
    log(
        f"{label}: bodies {arrivals.mean_size(STEADY_PATH):,.0f} bytes on average; "
        f"{repeats} repeated deliveries; {result.slow_requests} requests to the slow path; "
        f"the receiver used {cpu / (gave_up - first.timestamp()):.0%} of a core"
    )
    for name, part in (("(a)", result.a), ("(c)", result.c)):
        if not part.complete:
            log(
                f"{label} {name}: ONLY {part.arrived:,} OF {part.total:,} reminders arrived "
                f"within {GRACE:.0f} s of the last due time; the missing count at their wait so "
                "far (a lower bound) and the rows are not met"
            )
        log(
            f"{label} {name}: lateness p50 {part.p(0.5):.0f} ms, p99 {part.p(0.99):.0f} ms, "
            f"max {max(part.ms):.0f} ms"
        )
    return result


@dataclass
class Burst:
    seconds: float
    """From the due time to the last arrival; to when the bench gave up if some never came."""
    arrived: int
    total: int

    @property
    def complete(self) -> bool:
        return self.arrived == self.total

    @property
    def rate(self) -> float:
        return self.arrived / self.seconds if self.seconds > 0 else float("nan")


def burst(
    receiver: Receiver,
    maker: Callable[[str], AbstractContextManager[str]],
    label: str,
    lead: float,
    *,
    count: int,
) -> Burst:
    """(b): `count` reminders due in the same second."""
    due = datetime.fromtimestamp(int(time.time() + lead), UTC)
    with maker("w6_burst") as url:
        (tenant,) = _seed(url, [[due] * count])
        receiver.reset()
        with serving(url, label) as (port, proc):
            _trigger(port, tenant.api_key, "bench burst", receiver.url(STEADY_PATH))
            _ready(label, due.timestamp())
            done = _await(receiver, STEADY_PATH, count, until=due.timestamp() + GRACE, proc=proc)
            gave_up = time.time()
            arrivals = receiver.results()
    first_seen = arrivals.first(STEADY_PATH)
    last = max(first_seen.values()) if done else gave_up
    result = Burst(seconds=last - due.timestamp(), arrived=len(first_seen), total=count)
    if not done:
        log(
            f"{label}: ONLY {result.arrived:,} OF {count:,} reminders arrived within {GRACE:.0f} s "
            "of their due time; the time is a lower bound and the rows are not met"
        )
    log(
        f"{label}: {count:,} due at once, last arrival after {result.seconds:.2f} s, "
        f"{result.rate:,.0f} deliveries/s"
    )
    return result


@dataclass
class AmidStarts:
    burst: Burst
    lateness: Lateness
    """The burst's reminders only, not the stream's."""


def amid_starts(
    receiver: Receiver,
    maker: Callable[[str], AbstractContextManager[str]],
    label: str,
    lead: float,
    *,
    rate: int,
    seconds: int,
    count: int,
) -> AmidStarts:
    """(d): `rate` reminders due at every whole second for `seconds` s, each a minute before its
    meeting's start; then `count` due in one second, in the middle of those meetings' starts."""
    began = time.time()
    first = datetime.fromtimestamp(int(began + lead), UTC)
    times = [first + timedelta(seconds=s) for s in range(seconds) for _ in range(rate)]
    due = first + START_AFTER + timedelta(seconds=seconds // 2)
    meetings = len(times)
    crowd = range(meetings + 1, meetings + count + 1)  # the burst's booking ids
    with maker("w6_starts") as url:
        (tenant,) = _seed(url, [times + [due] * count], reminders=MINUTE_BEFORE, due_sequence=1)
        log(f"{label}: seeded {meetings + count:,} bookings in {time.time() - began:.1f} s")
        receiver.reset()
        with serving(url, label) as (port, proc):
            _trigger(port, tenant.api_key, "bench starts", receiver.url(STEADY_PATH))
            _ready(label, first.timestamp())
            _await(
                receiver,
                STEADY_PATH,
                meetings + count,
                until=due.timestamp() + GRACE,
                proc=proc,
            )
            gave_up = time.time()
            arrivals = receiver.results()
        started = asyncio.run(_started(url, meetings))
    first_seen = arrivals.first(STEADY_PATH)
    lateness = _lateness(dict.fromkeys(crowd, due.timestamp()), first_seen, gave_up)
    last = max(first_seen[b] for b in crowd) if lateness.complete else gave_up
    result = AmidStarts(
        burst=Burst(seconds=last - due.timestamp(), arrived=lateness.arrived, total=count),
        lateness=lateness,
    )
    streamed = sum(1 for b in range(1, meetings + 1) if b in first_seen)
    if streamed < meetings:
        log(f"{label}: ONLY {streamed:,} OF THE STREAM'S {meetings:,} reminders arrived")
    # The meetings that started while the burst was being delivered, beside those that fell due
    # then: the case measures the burst amid starts only if the scheduler made them.
    window = (due.timestamp(), last)
    fell_due = sum(1 for at in times if window[0] <= (at + START_AFTER).timestamp() <= window[1])
    during = sum(1 for _start, at in started if window[0] <= at <= window[1])
    late = [(at - start) * 1000 for start, at in started]
    log(
        f"{label}: {len(started):,} of the stream's {meetings:,} meetings started before bookd "
        f"stopped, {during:,} of them while the burst was being delivered ({fell_due:,} fell due "
        f"then); start lateness p50 {percentile(late, 0.5):.0f} ms, max "
        f"{max(late, default=float('nan')):.0f} ms"
    )
    if not result.burst.complete:
        log(
            f"{label}: ONLY {result.burst.arrived:,} OF {count:,} reminders arrived within "
            f"{GRACE:.0f} s of their due time; the times are lower bounds and the rows are not met"
        )
    log(
        f"{label}: {count:,} due at once amid meeting starts, last arrival after "
        f"{result.burst.seconds:.2f} s, {result.burst.rate:,.0f} deliveries/s, lateness p50 "
        f"{lateness.p(0.5):.0f} ms, p99 {lateness.p(0.99):.0f} ms"
    )
    return result


async def _started(url: str, meetings: int) -> list[tuple[float, float]]:
    """(start time, when the scheduler started it) of the first `meetings` bookings that are in
    progress, as timestamps: a transition sets `updated_at` to its batch's time."""
    counter = Counter(url)
    await counter.open()
    try:
        rows = await counter.fetch(
            "SELECT start_time, updated_at FROM bookings WHERE id <= $1 AND status = 'in_progress'",
            meetings,
        )
    finally:
        await counter.close()
    return [(_timestamp(start), _timestamp(at)) for start, at in rows]


def _timestamp(value: datetime | str) -> float:
    """A stored time: an aware datetime from PostgreSQL, naive UTC text from SQLite."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


# --- the client floor --------------------------------------------------------------------------

# A REMINDER_SENDING envelope as bookd sends it (docs/event-examples.md), its reminder rendered from
# the seed's 1-hour template: the floor's bodies have the shape and size of bookd's in this
# workload, about 1.4 KB (the stream's log line says what bookd's were).
ENVELOPE: dict[str, Any] = {
    "id": "",
    "type": "REMINDER_SENDING",
    "occurred_at": "2026-11-29T17:33:00Z",
    "workspace_id": 1,
    "data": {
        "booking": {
            "id": 0,
            "service_uid": "consultation",
            "service_id": 1,
            "bot_user_ns": "ada",
            "status": "confirmed",
            "start_time": "2026-11-29T17:43:00Z",
            "end_time": "2026-11-29T18:13:00Z",
            "duration": 30,
            "location": "https://meet.example.com/abc-defg-hij",
            "source": "telegram",
            "metadata": '{"order": 1042}',
            "notes": "",
            "rating": None,
            "cancel_reason": None,
            "reschedule_reason": None,
            "reschedule_count": 0,
            "version": 2,
            "created_at": "2026-11-29T17:23:00Z",
            "updated_at": "2026-11-29T17:23:00Z",
        },
        "service": {
            "id": 1,
            "service_uid": "consultation",
            "name": "Consultation",
            "description": "",
            "default_duration": 30,
            "status": "active",
            "created_at": "2026-11-29T17:23:00Z",
            "updated_at": "2026-11-29T17:23:00Z",
        },
        "bot_user": {
            "bot_user_ns": "ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": None,
            "timezone": "Europe/London",
            "locale": None,
            "followups_opt_out": False,
            "created_at": "2026-11-29T17:23:00Z",
            "updated_at": "2026-11-29T17:23:00Z",
        },
        "ics_url": "/v1/bookings/1.ics",
        "reminder": {
            "id": 1,
            "sequence": 1,
            "title": "In an hour: Consultation at 17:43",
            "description": "Hi Ada Lovelace, your Consultation (30 minutes) starts at 2026-11-29 "
            "17:43 at https://meet.example.com/abc-defg-hij. Booking #1.",
            "scheduled_at": "2026-11-29T17:33:00Z",
            "status": "sent",
            "sent_at": "2026-11-29T17:33:00Z",
            "skip_reason": None,
        },
    },
}


def _body(n: int) -> tuple[bytes, dict[str, str]]:
    """The n-th floor request: a body with booking id n and the headers bookd sends (a signature
    of the right length: computing it is bookd's work, not the client's)."""
    envelope = json.loads(json.dumps(ENVELOPE))
    envelope["id"] = f"evt_{n:032x}"
    envelope["data"]["booking"]["id"] = n
    body = json.dumps(envelope, separators=(",", ":")).encode()
    headers = {
        "webhook-id": envelope["id"],
        "webhook-timestamp": "1796191441",
        "webhook-signature": "v1," + "A" * 43 + "=",
        "content-type": "application/json",
        "user-agent": "bookd-webhooks/1",
    }
    return body, headers


Send = Callable[[bytes, dict[str, str]], Awaitable[int]]


async def _post(client: str, url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """POST for `seconds` with `concurrency` requests in flight, after a warm-up; counts the
    requests that ended in the measured span."""
    requests = [_body(n) for n in range(1, BODIES + 1)]
    counted = errors = 0
    began = time.perf_counter()
    from_, until = began + FLOOR_WARMUP, began + FLOOR_WARMUP + seconds

    async def lane(n: int, send: Send) -> None:
        nonlocal counted, errors
        for i in itertools.count(n, concurrency):
            if time.perf_counter() >= until:
                return
            body, headers = requests[i % BODIES]
            status = await send(body, headers)
            ended = time.perf_counter()
            errors += status != 200
            counted += from_ <= ended < until

    async def run(send: Send) -> None:
        await asyncio.gather(*(lane(n, send) for n in range(concurrency)))

    if client == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def send_aiohttp(body: bytes, headers: dict[str, str]) -> int:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status

            await run(send_aiohttp)
    elif client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:

            async def send_httpx(body: bytes, headers: dict[str, str]) -> int:
                response = await http.post(url, content=body, headers=headers)
                return response.status_code

            await run(send_httpx)
    else:
        raise ValueError(f"unknown client {client!r}")
    return {"requests": counted, "seconds": seconds, "errors": errors}


def _client_floors(base: str, seconds: float, rounds: int) -> list[dict[str, Any]]:
    """In the client process: each client at PER_TRIGGER and 32 in flight, `rounds` times
    interleaved, with what the receiver counted and spent meanwhile."""
    import uvloop

    results: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, timeout=30) as control:
        for _ in range(rounds):
            for concurrency in (PER_TRIGGER, 32):
                for client in CLIENTS:
                    before = control.get("/count").json()
                    # On uvloop, as `bookd serve` runs (uvicorn's loop="uvloop").
                    outcome = uvloop.run(_post(client, f"{base}/floor", concurrency, seconds))
                    after = control.get("/count").json()
                    outcome.update(
                        client=client,
                        concurrency=concurrency,
                        receiver_requests=after["requests"] - before["requests"],
                        receiver_cpu=after["cpu"] - before["cpu"],
                    )
                    results.append(outcome)
    return results


@dataclass
class Floor:
    rate: float
    """Requests per second, the best of the rounds: other load on the machine only lowers it."""
    receiver_cpu_per_request: float
    """The receiver's CPU seconds per request meanwhile, over all rounds (warm-ups included)."""


def client_floors(receiver: Receiver, seconds: float, rounds: int) -> dict[tuple[str, int], Floor]:
    """The client floor and comparison, in one process of their own (one start-up for all)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.delivery", receiver.url(""), str(seconds), str(rounds)],
        capture_output=True,
        text=True,
        timeout=rounds * 4 * (seconds + 30),
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    runs = json.loads(line.removeprefix("BENCH "))
    result: dict[tuple[str, int], Floor] = {}
    for key in dict.fromkeys((run["client"], run["concurrency"]) for run in runs):
        mine = [run for run in runs if (run["client"], run["concurrency"]) == key]
        if any(run["errors"] for run in mine):
            raise RuntimeError(f"client floor {key}: requests that did not answer 200")
        rates = [run["requests"] / run["seconds"] for run in mine]
        result[key] = floor = Floor(
            rate=max(rates),
            receiver_cpu_per_request=sum(run["receiver_cpu"] for run in mine)
            / max(1, sum(run["receiver_requests"] for run in mine)),
        )
        log(
            f"w6 client floor {key[0]}, {key[1]} in flight: {floor.rate:,.0f} req/s (rounds: "
            f"{', '.join(f'{r:,.0f}' for r in rates)}); receiver "
            f"{floor.receiver_cpu_per_request * 1e6:.0f} µs of CPU per request"
        )
    return result


# --- the workload ------------------------------------------------------------------------------


def run() -> list[Row]:
    rate = _size("RATE", 1000, 1000)
    seconds = _size("SECONDS", 60, 10)
    count = _size("BURST", 10_000, 2_000)
    slow = _size("SLOW", 500, 500)
    d_rate = _size("D_RATE", 500, 500)
    d_seconds = _size("D_SECONDS", 30, 10)
    d_count = _size("D_BURST", 5_000, 2_000)
    floor_seconds = scaled(3, 2)
    log(
        f"workload 6: delivered lateness, {rate:,}/s for {seconds} s twice (the second beside "
        f"{slow} deliveries to an endpoint answering after {SLOW_SECONDS:.0f} s), "
        f"{count:,} due at once, {d_count:,} due at once amid {d_rate:,} meeting starts a second"
    )
    rows: list[Row] = []
    floor_rows: list[Row] = []
    with receiving() as receiver:
        floors = client_floors(receiver, floor_seconds, FLOOR_ROUNDS)
        base = floors["aiohttp", PER_TRIGGER].rate
        base_name = f"client floor: aiohttp, {PER_TRIGGER} in flight, no database"
        for c in (PER_TRIGGER, 32):
            floor_rows.append(
                compare(
                    f"w6 client floor, {c} in flight: aiohttp",
                    floors["aiohttp", c].rate,
                    "req/s",
                    f"httpx.AsyncClient, {c} in flight",
                    floors["httpx", c].rate,
                )
            )
        # The receiver's CPU time per request under the heaviest of these loads; the reciprocal is
        # what it could take on one core (wrk, a C client, measured about the same here).
        cpu = floors["aiohttp", 32].receiver_cpu_per_request
        floor_rows.append(
            compare("w6 receiver capacity: requests per CPU-second, one core", 1 / cpu, "req/s")
        )

        for backend, maker in (("PostgreSQL", fresh_postgres), ("SQLite", fresh_sqlite)):
            tag = "pg" if backend == "PostgreSQL" else "sqlite"
            label = f"w6_stream_{tag}"
            s = _leading(
                label,
                2 * rate * seconds + slow,
                partial(stream, receiver, maker, label, rate=rate, seconds=seconds, slow=slow),
            )
            label = f"w6_burst_{tag}"
            b = _leading(label, count, partial(burst, receiver, maker, label, count=count))
            label = f"w6_starts_{tag}"
            d = _leading(
                label,
                d_rate * d_seconds + d_count,
                partial(
                    amid_starts,
                    receiver,
                    maker,
                    label,
                    rate=d_rate,
                    seconds=d_seconds,
                    count=d_count,
                ),
            )
            amid = f"{d_count:,} due at once amid {d_rate:,} meeting starts/s"
            where = f"bookd serve, {backend}"
            p99_a, p99_c = s.a.p(0.99), s.c.p(0.99)
            rows += [
                compare(
                    f"w6 (a) delivered lateness p50, {rate:,}/s for {seconds} s: {where}",
                    s.a.p(0.5),
                    "ms",
                ),
                compare(
                    f"w6 (a) delivered lateness p99, {rate:,}/s for {seconds} s: {where}",
                    p99_a,
                    "ms",
                    target="<= 1000 ms",
                    met=s.a.complete and p99_a <= 1000,
                ),
                compare(
                    f"w6 (a) delivered lateness max, {rate:,}/s for {seconds} s: {where}",
                    max(s.a.ms),
                    "ms",
                ),
                compare(
                    f"w6 (a) reminders delivered: {where}",
                    s.a.arrived,
                    f"of {s.a.total:,}",
                    target="all",
                    met=s.a.complete,
                ),
                compare(
                    f"w6 (b) {count:,} due at once, due to last arrival: {where}",
                    b.seconds,
                    "s",
                    target="<= 10 s" if tag == "pg" else "<= 20 s",
                    met=b.complete and b.seconds <= (10 if tag == "pg" else 20),
                ),
                compare(
                    f"w6 (b) {count:,} due at once, deliveries/s: {where}",
                    b.rate,
                    "deliveries/s",
                    base_name,
                    base,
                    target=">= 1,000/s and >= 0.4 x floor" if tag == "pg" else None,
                    met=b.complete and b.rate >= 1000 and b.rate >= 0.4 * base
                    if tag == "pg"
                    else None,
                ),
                compare(
                    f"w6 (c) delivered lateness p50, beside {slow} slow deliveries: {where}",
                    s.c.p(0.5),
                    "ms",
                ),
                compare(
                    f"w6 (c) delivered lateness p99, beside {slow} slow deliveries: {where}",
                    p99_c,
                    "ms",
                    "(a) p99, no slow trigger",
                    p99_a,
                    target="<= (a) p99 + 500 ms",
                    met=s.a.complete and s.c.complete and p99_c <= p99_a + 500,
                ),
                compare(
                    f"w6 (c) delivered lateness max, beside {slow} slow deliveries: {where}",
                    max(s.c.ms),
                    "ms",
                ),
                compare(
                    f"w6 (c) reminders delivered: {where}",
                    s.c.arrived,
                    f"of {s.c.total:,}",
                    target="all",
                    met=s.c.complete,
                ),
                compare(
                    f"w6 (d) {amid}, due to last arrival: {where}",
                    d.burst.seconds,
                    "s",
                    target="<= 10 s",
                    met=d.burst.complete and d.burst.seconds <= 10,
                ),
                compare(f"w6 (d) {amid}, lateness p50: {where}", d.lateness.p(0.5), "ms"),
                compare(f"w6 (d) {amid}, lateness p99: {where}", d.lateness.p(0.99), "ms"),
                compare(
                    f"w6 (d) {amid}, deliveries/s: {where}",
                    d.burst.rate,
                    "deliveries/s",
                    base_name,
                    base,
                ),
                compare(
                    f"w6 (d) reminders delivered: {where}",
                    d.burst.arrived,
                    f"of {d.burst.total:,}",
                    target="all",
                    met=d.burst.complete,
                ),
            ]
    return rows + floor_rows


if __name__ == "__main__":
    try:
        import sniffio  # noqa: F401
    except ImportError:
        # httpcore (under httpx) imports sniffio at every request and, where it is missing (as in
        # bookd's environment: anyio no longer needs it), pays a failed import each time, a
        # search of sys.path (about 0.2 ms here; without it httpx did 1.6 times as many requests
        # a second at 8 in flight). Marked missing once, so that httpx is compared at its best.
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    receiver_url, span, rounds = sys.argv[1:4]
    print("BENCH " + json.dumps(_client_floors(receiver_url, float(span), int(rounds))))
