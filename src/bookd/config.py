"""Settings, read once from the environment (every name starts with BOOKD_)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookd.kit.db import is_sqlite
from bookd.kit.wakeup import WAKE_WITHIN

DEFAULT_DATABASE_URL = "sqlite:///./bookd.db"
# Where links sent in messages point without BOOKD_PUBLIC_URL: `bookd serve`'s own default
# address, which only a browser on the same machine reaches.
LOCAL_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    """Each field is read from BOOKD_<FIELD NAME> unless it names another variable."""

    model_config = SettingsConfigDict(
        env_prefix="BOOKD_",
        frozen=True,
        # `stale_window` is given by name in code, by BOOKD_STALE_WINDOW_SECONDS in the environment.
        populate_by_name=True,
        # An error shows the variable and what is wrong, never the other values (the tokens).
        hide_input_in_errors=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    # 0 means no pool: a connection per transaction (tests that drive the app from many loops).
    db_pool_size: int = 10
    stale_window: timedelta = Field(
        default=timedelta(hours=2), validation_alias="BOOKD_STALE_WINDOW_SECONDS"
    )
    # Bookings a scheduler batch claims; unset, it depends on the database (`_batch_by_database`).
    scheduler_batch_size: int = Field(default=None, validate_default=True)
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
    def from_env(cls, **overrides: Any) -> Settings:
        """The environment's settings, `overrides` taking the place of their variables. A value
        refused raises ValueError naming the variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ValueError("; ".join(_explain(error) for error in exc.errors())) from None

    def replace(self, **changes: Any) -> Settings:
        """These settings with `changes`, checked as the environment's are (the environment is
        not read again)."""
        return self.model_validate({**self.model_dump(), **changes})

    @field_validator("stale_window", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        return timedelta(seconds=int(value)) if isinstance(value, str) else value

    @field_validator("scheduler_batch_size", mode="before")
    @classmethod
    def _batch_by_database(cls, value: object, info: ValidationInfo) -> object:
        """500 on SQLite, where a batch holds the one write lock that API requests wait for;
        1,000 on PostgreSQL, whose batches lock only their bookings (a batch's statements and
        commit cost about the same for either size, so the larger batch sends more reminders per
        statement)."""
        if value is not None:
            return value
        return 500 if is_sqlite(info.data.get("database_url", DEFAULT_DATABASE_URL)) else 1000

    @field_validator("webhook_allow_private", mode="before")
    @classmethod
    def _yes(cls, value: object) -> object:
        return value.lower() in ("1", "true", "yes") if isinstance(value, str) else value

    @field_validator("public_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: object) -> object:
        return value.strip().rstrip("/") if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        if not 0 < self.scheduler_max_sleep <= WAKE_WITHIN.total_seconds():
            raise ValueError(
                "BOOKD_SCHEDULER_MAX_SLEEP must be more than 0 and at most"
                f" {WAKE_WITHIN.total_seconds():.0f} seconds"
            )
        if not 1 <= self.scheduler_concurrency <= 16:
            raise ValueError("BOOKD_SCHEDULER_CONCURRENCY must be from 1 to 16")
        if not 0 < self.webhook_timeout_seconds <= 300:
            raise ValueError("BOOKD_WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 300")
        if self.webhook_lease_seconds < 2 * self.webhook_timeout_seconds:
            raise ValueError(
                "BOOKD_WEBHOOK_LEASE_SECONDS must be at least twice BOOKD_WEBHOOK_TIMEOUT_SECONDS"
                " (a claimed delivery may wait for one attempt before its own)"
            )
        if self.max_body_bytes < 1024:
            raise ValueError("BOOKD_MAX_BODY_BYTES must be at least 1024")
        if not 0 < self.body_timeout_seconds <= 600:
            raise ValueError("BOOKD_BODY_TIMEOUT_SECONDS must be more than 0 and at most 600")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("BOOKD_PUBLIC_URL must start with http:// or https://")
        return self

    @property
    def link_base(self) -> str:
        """What links sent in reminders and follow-ups (`[MANAGE_URL]`) are built under: no request
        names an address there."""
        return self.public_url or LOCAL_URL


def _explain(error: Any) -> str:
    """A range check's own message (it names its variable), or what is wrong with one value after
    the name of its variable."""
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    if not error["loc"]:
        return message
    name = str(error["loc"][0])
    return f"{name if name.startswith('BOOKD_') else 'BOOKD_' + name.upper()}: {message}"
