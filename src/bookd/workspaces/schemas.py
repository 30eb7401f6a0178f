"""API shapes of bot users (the contacts bookings are for) and their customer tokens."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bookd.kit.schemas import Input, Output, TimezoneName, UTCTime
from bookd.workspaces.models import CustomerToken

BotUserNs = Annotated[str, Field(min_length=1, max_length=200)]
WorkspaceName = Annotated[str, Field(min_length=1, max_length=100)]
KeyName = Annotated[str, Field(min_length=1, max_length=100)]


class WorkspaceUpdate(Input):
    name: WorkspaceName | None = None
    timezone: TimezoneName | None = None


class ApiKeyCreate(Input):
    name: KeyName = "default"


class BotUserProfile(Input):
    name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    timezone: TimezoneName | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    followups_opt_out: bool = False


class BotUserOut(Output):
    bot_user_ns: str = Field(validation_alias="ns")
    name: str | None
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    followups_opt_out: bool
    created_at: UTCTime
    updated_at: UTCTime


# A customer token lasts an hour unless asked otherwise, at most 30 days.
TOKEN_TTL_SECONDS = 3600
MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600
TtlSeconds = Annotated[int, Field(strict=True, ge=1, le=MAX_TOKEN_TTL_SECONDS)]


class CustomerTokenCreate(Input):
    bot_user_ns: BotUserNs
    """The bot user the token opens; created on first use, like a booking's."""
    ttl_seconds: TtlSeconds = TOKEN_TTL_SECONDS


class CustomerTokenOut(Output):
    id: int
    bot_user_ns: str
    created_at: UTCTime
    expires_at: UTCTime
    revoked_at: UTCTime | None

    @classmethod
    def of(cls, token: CustomerToken, bot_user_ns: str) -> CustomerTokenOut:
        return cls(
            id=token.id,
            bot_user_ns=bot_user_ns,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class CustomerTokenIssued(CustomerTokenOut):
    token: str = Field(description="The token (`bkc_…`), shown this once: only its hash is kept")


class CustomerTokensRevoke(Input):
    bot_user_ns: BotUserNs


class CustomerTokensRevoked(Output):
    revoked: int
    """How many of the bot user's tokens stopped working (those already expired or revoked are
    not counted)."""
