"""Settings read from the environment: defaults that depend on the database."""

from __future__ import annotations

import pytest

from bookd.config import Settings


def test_the_scheduler_batch_is_larger_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOKD_SCHEDULER_BATCH_SIZE", raising=False)
    monkeypatch.setenv("BOOKD_DATABASE_URL", "postgresql://bookd@db.example/bookd")
    assert Settings.from_env().scheduler_batch_size == 1000
    assert Settings.from_env(database_url="sqlite:///./x.db").scheduler_batch_size == 500
    monkeypatch.setenv("BOOKD_DATABASE_URL", "sqlite:///./bookd.db")
    assert Settings.from_env().scheduler_batch_size == 500
    monkeypatch.setenv("BOOKD_SCHEDULER_BATCH_SIZE", "64")
    assert Settings.from_env(database_url="postgresql://bookd@db/bookd").scheduler_batch_size == 64
