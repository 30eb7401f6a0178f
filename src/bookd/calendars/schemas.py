"""API shapes of the calendar feed."""

from __future__ import annotations

from pydantic import Field

from bookd.kit.schemas import Output, UTCTime


class FeedIssued(Output):
    url: str = Field(description="Subscribe to this in Google Calendar, Outlook or Apple Calendar")
    token: str = Field(description="Shown once; stored hashed. A new one revokes the previous")
    created_at: UTCTime


class FeedStatus(Output):
    active: bool
    created_at: UTCTime | None
