"""Settings read from the environment: how values parse, defaults that depend on the database,
and the refusals, which name the variable."""

from __future__ import annotations

from datetime import timedelta

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


def test_values_are_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKD_STALE_WINDOW_SECONDS", "60")
    monkeypatch.setenv("BOOKD_WEBHOOK_ALLOW_PRIVATE", "Yes")
    monkeypatch.setenv("BOOKD_PUBLIC_URL", " https://book.example.com/base/ ")
    monkeypatch.setenv("BOOKD_TRUSTED_PROXIES", " 10.0.0.0/8 ")
    settings = Settings.from_env()
    assert settings.stale_window == timedelta(minutes=1)
    assert settings.webhook_allow_private
    assert settings.public_url == "https://book.example.com/base"
    assert settings.trusted_proxies == "10.0.0.0/8"
    # Only 1, true and yes allow: anything else is the safe default.
    for other in ("on", "", "no"):
        monkeypatch.setenv("BOOKD_WEBHOOK_ALLOW_PRIVATE", other)
        assert not Settings.from_env().webhook_allow_private


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BOOKD_SCHEDULER_CONCURRENCY", "17", "BOOKD_SCHEDULER_CONCURRENCY must be from 1 to 16"),
        ("BOOKD_MAX_BODY_BYTES", "1000", "BOOKD_MAX_BODY_BYTES must be at least 1024"),
        (
            "BOOKD_PUBLIC_URL",
            "book.example.com",
            "BOOKD_PUBLIC_URL must start with http:// or https://",
        ),
        (
            "BOOKD_WEBHOOK_LEASE_SECONDS",
            "15",
            "BOOKD_WEBHOOK_LEASE_SECONDS must be at least twice BOOKD_WEBHOOK_TIMEOUT_SECONDS"
            " (a claimed delivery may wait for one attempt before its own)",
        ),
    ],
)
def test_a_value_out_of_range_is_refused_with_its_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        Settings.from_env()
    assert str(refused.value) == message


@pytest.mark.parametrize("name", ["BOOKD_DB_POOL_SIZE", "BOOKD_STALE_WINDOW_SECONDS"])
def test_a_value_that_is_no_number_is_refused_with_its_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "ten")
    with pytest.raises(ValueError, match=f"^{name}: "):
        Settings.from_env()


def test_a_changed_copy_is_checked_too() -> None:
    settings = Settings(database_url="sqlite://")
    assert settings.replace(webhook_lease_seconds=20).webhook_lease_seconds == 20
    assert settings.webhook_lease_seconds == 60
    with pytest.raises(ValueError, match="BOOKD_WEBHOOK_LEASE_SECONDS must be at least twice"):
        settings.replace(webhook_lease_seconds=15)
