"""SQLite jobs queued together run together, each still in a transaction of its own."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bookd.kit.db import Database


class Refused(Exception):
    pass


def _job(number: int) -> Callable[[sqlite3.Connection], int]:
    def job(db: sqlite3.Connection) -> int:
        db.execute("CREATE TABLE IF NOT EXISTS done (number INTEGER)")
        db.execute("INSERT INTO done VALUES (?)", (number,))
        if number % 5 == 3:
            raise Refused(number)
        return number * 10

    return job


def test_queued_jobs_commit_or_roll_back_one_by_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    async def scenario() -> list[object]:
        db = Database(url)
        try:
            # Hold the write lock so that all of them queue, then let them run.
            async with db._writing(False):
                calls = [asyncio.ensure_future(db.sqlite_job(_job(n))) for n in range(20)]
                await asyncio.sleep(0.05)
                assert not any(call.done() for call in calls)
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await db.dispose()

    outcomes = asyncio.run(scenario())
    for number, outcome in enumerate(outcomes):
        if number % 5 == 3:
            assert isinstance(outcome, Refused) and outcome.args == (number,)
        else:
            assert outcome == number * 10
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        kept = [row[0] for row in db.execute("SELECT number FROM done ORDER BY rowid")]
    # Every job that raised left nothing behind; the others' writes stayed, in the order queued.
    assert kept == [n for n in range(20) if n % 5 != 3]


def test_a_writer_waiting_for_the_lock_is_not_starved_by_later_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    order: list[str] = []

    def job(name: str) -> Callable[[sqlite3.Connection], None]:
        def run(db: sqlite3.Connection) -> None:
            order.append(name)

        return run

    async def scenario() -> None:
        db = Database(url)
        try:
            lock = db._writing(False)
            async with lock:
                first = asyncio.ensure_future(db.sqlite_job(job("first")))
                await asyncio.sleep(0.01)

                async def writer() -> None:
                    async with db.transaction():
                        order.append("writer")

                waiting = asyncio.ensure_future(writer())
                await asyncio.sleep(0.01)
            await first  # the jobs' turn comes first: they queued for the lock before the writer
            later = asyncio.ensure_future(db.sqlite_job(job("later")))
            await asyncio.gather(waiting, later)
        finally:
            await db.dispose()

    asyncio.run(scenario())
    assert order == ["first", "writer", "later"]


@pytest.mark.parametrize("count", [1, 50])
def test_every_job_gets_its_own_answer(tmp_path: Path, count: int) -> None:
    url = f"sqlite:///{tmp_path / 'answers.db'}"

    async def scenario() -> list[int]:
        db = Database(url)
        try:
            return await asyncio.gather(*(db.sqlite_job(lambda _db, n=n: n) for n in range(count)))
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == list(range(count))
