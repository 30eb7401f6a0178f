"""API shapes of booking services and their templates, with the limits of SPEC section 2."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bookd.kit.schemas import ActiveStatus, Input, Minutes, Output, UTCTime

ServiceName = Annotated[str, Field(min_length=1, max_length=100)]
ServiceUid = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")]
ServiceDescription = Annotated[str, Field(max_length=1000)]
TemplateTitle = Annotated[str, Field(min_length=1, max_length=50)]
TemplateDescription = Annotated[str, Field(max_length=500)]
OffsetPart = Annotated[int, Field(strict=True, ge=0, le=525_600)]
CutoffMinutes = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=525_600,
        description="Customers may not cancel or reschedule closer than this to the start",
    ),
]

TemplateKind = Literal["reminder", "followup"]
MAX_OFFSET_MINUTES = 365 * 24 * 60


class ServiceCreate(Input):
    name: ServiceName
    service_uid: ServiceUid
    description: ServiceDescription = ""
    default_duration: Minutes
    status: ActiveStatus = "active"
    customer_can_cancel: bool = True
    customer_can_reschedule: bool = True
    customer_cutoff_minutes: CutoffMinutes | None = None


class ServiceUpdate(Input):
    name: ServiceName | None = None
    # Accepted only unchanged: the UID cannot change after creation.
    service_uid: ServiceUid | None = None
    description: ServiceDescription | None = None
    default_duration: Minutes | None = None
    status: ActiveStatus | None = None
    customer_can_cancel: bool | None = None
    customer_can_reschedule: bool | None = None
    # null removes the cutoff; left out, it stays.
    customer_cutoff_minutes: CutoffMinutes | None = None


class ServiceOut(Output):
    id: int
    service_uid: str
    name: str
    description: str
    default_duration: int
    status: str
    customer_can_cancel: bool
    customer_can_reschedule: bool
    customer_cutoff_minutes: int | None
    created_at: UTCTime
    updated_at: UTCTime


class _Offset(Input):
    days: OffsetPart = 0
    hours: OffsetPart = 0
    minutes: OffsetPart = 0


def offset_too_large(days: int, hours: int, minutes: int) -> bool:
    return days * 1440 + hours * 60 + minutes > MAX_OFFSET_MINUTES


class TemplateCreate(_Offset):
    title: TemplateTitle
    description: TemplateDescription = ""
    status: ActiveStatus = "active"


class TemplateUpdate(Input):
    title: TemplateTitle | None = None
    description: TemplateDescription | None = None
    days: OffsetPart | None = None
    hours: OffsetPart | None = None
    minutes: OffsetPart | None = None
    status: ActiveStatus | None = None


class TemplateOut(Output):
    id: int
    kind: str
    sequence: int
    title: str
    description: str
    days: int
    hours: int
    minutes: int
    status: str
    created_at: UTCTime
    updated_at: UTCTime
