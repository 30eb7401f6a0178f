"""Settings, read once from the environment (every name starts with BOOKD_)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from bookd.kit.db import is_sqlite
from bookd.kit.wakeup import WAKE_WITHIN
from bookd.webhooks.guard import Guard

DEFAULT_DATABASE_URL = "sqlite:///./bookd.db"
# Where links sent in messages point without BOOKD_PUBLIC_URL: `bookd serve`'s own default
# address, which only a browser on the same machine reaches.
LOCAL_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # 0 means no pool: a connection per transaction (tests that drive the app from many loops).
    db_pool_size: int = 10
    stale_window: timedelta = field(default=timedelta(hours=2))
    page_size_max: int = 200
    # Bookings a scheduler batch claims: 500 on SQLite, where a batch holds the one write lock that
    # API requests wait for; `from_env` takes 1,000 on PostgreSQL, whose batches lock only their
    # bookings (a batch's statements and commit cost about the same for either size, so the
    # larger batch sends more reminders per statement).
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
    # A request body larger than this is refused (413) before it is read.
    max_body_bytes: int = 1024 * 1024
    # A request body must have arrived this long after the request began, or it is refused (408).
    body_timeout_seconds: float = 10.0
    # The address users reach bookd at (scheme, host, optional port and path), for every URL bookd
    # builds: calendar feeds, redirects. Empty: the request's own address (not for production
    # behind a proxy, where Host is whatever a client sends).
    public_url: str = ""
    # Peers whose X-Forwarded-For and X-Forwarded-Proto are believed: comma-separated addresses
    # or networks, "*" for any. Empty: none, the peer is the client.
    trusted_proxies: str = ""
    # `GET /metrics` answers only with `Authorization: Bearer <token>`; empty: not served by the
    # API (`bookd worker --metrics-port` serves it on a port of its own).
    metrics_token: str = ""

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
            "max_body_bytes": int(env.get("BOOKD_MAX_BODY_BYTES", str(1024 * 1024))),
            "body_timeout_seconds": float(env.get("BOOKD_BODY_TIMEOUT_SECONDS", "10")),
            "public_url": env.get("BOOKD_PUBLIC_URL", "").strip().rstrip("/"),
            "trusted_proxies": env.get("BOOKD_TRUSTED_PROXIES", "").strip(),
            "metrics_token": env.get("BOOKD_METRICS_TOKEN", ""),
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
        if settings.max_body_bytes < 1024:
            raise ValueError("BOOKD_MAX_BODY_BYTES must be at least 1024")
        if not 0 < settings.body_timeout_seconds <= 600:
            raise ValueError("BOOKD_BODY_TIMEOUT_SECONDS must be more than 0 and at most 600")
        if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
            raise ValueError("BOOKD_PUBLIC_URL must start with http:// or https://")
        return settings

    @property
    def link_base(self) -> str:
        """What links sent in reminders and follow-ups (`[MANAGE_URL]`) are built under: no request
        names an address there."""
        return self.public_url or LOCAL_URL

    @property
    def guard(self) -> Guard:
        return Guard.from_setting(self.webhook_allow_private, self.webhook_allow_hosts)
