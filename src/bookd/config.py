"""Settings, read once from the environment (every name starts with BOOKD_)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from bookd.kit.db import is_sqlite
from bookd.kit.wakeup import WAKE_WITHIN
from bookd.webhooks.guard import Guard

DEFAULT_DATABASE_URL = "sqlite:///./bookd.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # 0 means no pool: a connection per transaction (tests that drive the app from many loops).
    db_pool_size: int = 10
    stale_window: timedelta = field(default=timedelta(hours=2))
    page_size_max: int = 200
    # Bookings a scheduler batch claims: 500 on SQLite, where a batch holds the one write lock that
    # API requests wait for; `from_env` takes 1,000 on PostgreSQL, whose batches lock only their
    # bookings (a batch's statements and commit cost the same for 500 or 1,000 bookings; the
    # larger batch sends about a sixth more reminders a second).
    scheduler_batch_size: int = 500
    # Scheduler loops per worker process on PostgreSQL (SQLite: always one), so that one batch is
    # built while another waits for the database.
    scheduler_concurrency: int = 2
    # The longest a scheduler sleeps without looking: the bound on lateness when no wake-up comes.
    scheduler_max_sleep: float = 1.0
    # Webhooks may not target private, loopback or link-local addresses unless allowed here.
    webhook_allow_private: bool = False
    webhook_allow_hosts: str = ""
    # The deadline of one webhook attempt: connecting, sending and the whole answer.
    webhook_timeout_seconds: float = 10.0
    # How long a claimed delivery stays with its worker before another may take it over (a worker
    # that died mid-flight). A claimed delivery waits behind at most one round of its trigger's
    # attempts, so at least twice the timeout: a live attempt is never doubled.
    webhook_lease_seconds: int = 60
    # Events (and their deliveries) older than this are pruned; 0 keeps them for ever.
    event_retention_days: int = 30

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        url = str(
            overrides.get("database_url", env.get("BOOKD_DATABASE_URL", DEFAULT_DATABASE_URL))
        )
        batch = "500" if is_sqlite(url) else "1000"
        values: dict[str, object] = {
            "database_url": url,
            "db_pool_size": int(env.get("BOOKD_DB_POOL_SIZE", "10")),
            "stale_window": timedelta(seconds=int(env.get("BOOKD_STALE_WINDOW_SECONDS", "7200"))),
            "scheduler_batch_size": int(env.get("BOOKD_SCHEDULER_BATCH_SIZE", batch)),
            "scheduler_concurrency": int(env.get("BOOKD_SCHEDULER_CONCURRENCY", "2")),
            "scheduler_max_sleep": float(env.get("BOOKD_SCHEDULER_MAX_SLEEP", "1.0")),
            "webhook_allow_private": env.get("BOOKD_WEBHOOK_ALLOW_PRIVATE", "").lower()
            in ("1", "true", "yes"),
            "webhook_allow_hosts": env.get("BOOKD_WEBHOOK_ALLOW_HOSTS", ""),
            "webhook_timeout_seconds": float(env.get("BOOKD_WEBHOOK_TIMEOUT_SECONDS", "10")),
            "webhook_lease_seconds": int(env.get("BOOKD_WEBHOOK_LEASE_SECONDS", "60")),
            "event_retention_days": int(env.get("BOOKD_EVENT_RETENTION_DAYS", "30")),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        if not 0 < settings.scheduler_max_sleep <= WAKE_WITHIN.total_seconds():
            raise ValueError(
                "BOOKD_SCHEDULER_MAX_SLEEP must be more than 0 and at most"
                f" {WAKE_WITHIN.total_seconds():.0f} seconds"
            )
        if not 1 <= settings.scheduler_concurrency <= 16:
            raise ValueError("BOOKD_SCHEDULER_CONCURRENCY must be from 1 to 16")
        if not 0 < settings.webhook_timeout_seconds <= 300:
            raise ValueError("BOOKD_WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 300")
        if settings.webhook_lease_seconds < 2 * settings.webhook_timeout_seconds:
            raise ValueError(
                "BOOKD_WEBHOOK_LEASE_SECONDS must be at least twice BOOKD_WEBHOOK_TIMEOUT_SECONDS"
                " (a claimed delivery may wait for one attempt before its own)"
            )
        return settings

    @property
    def guard(self) -> Guard:
        return Guard.from_setting(self.webhook_allow_private, self.webhook_allow_hosts)
