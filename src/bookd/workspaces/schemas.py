"""API shapes of bot users (the contacts bookings are for)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bookd.kit.schemas import Input, Output, TimezoneName, UTCTime

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
