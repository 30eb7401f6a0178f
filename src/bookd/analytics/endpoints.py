"""`GET /v1/analytics`: the report as JSON, or as CSV (`Accept: text/csv` or `?format=csv`)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from bookd.analytics import service as analytics
from bookd.analytics.schemas import AnalyticsOut, AnalyticsQuery, Granularity, Row
from bookd.kit.errors import ValidationFailed
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors, validation_details
from bookd.workspaces.auth import CurrentCaller

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], route_class=UnitOfWorkRoute)
CSV = "text/csv"


def query_of(
    start: date | str | None, end: date | str | None, service_uid: str | None, granularity: str
) -> AnalyticsQuery:
    """The report asked for, or 422 naming the field."""
    data = {"from": start, "to": end, "service_uid": service_uid, "granularity": granularity}
    try:
        return AnalyticsQuery.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise ValidationFailed("the query is not valid", validation_details(exc.errors())) from None


@router.get(
    "",
    response_model=AnalyticsOut,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}, **errors(404)},
)
async def get_analytics(
    caller: CurrentCaller,
    session: Session,
    now: Now,
    request: Request,
    start: Annotated[
        date | None, Query(alias="from", description="First day; default: 90 days before `to`")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="Last day, included; default: today")
    ] = None,
    service_uid: Annotated[str | None, Query(max_length=50)] = None,
    granularity: Granularity = "week",
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
) -> Any:
    """Bookings by status, rates, lead time, ratings, reasons, reminders, follow-ups and webhook
    deliveries, per period (days in the workspace's timezone) and service; read from counters
    kept with every change, so a year costs the same at any size."""
    query = query_of(start, end, service_uid, granularity)
    out = await analytics.report(session, caller.workspace, query, now)
    if format == "csv" or (format is None and CSV in request.headers.get("accept", "")):
        return Response(as_csv(out), media_type=f"{CSV}; charset=utf-8")
    return out


CSV_COLUMNS = [
    *(name for name in Row.model_fields if name not in ("ratings", "top_cancel_reasons", "top_reschedule_reasons")),
    *(f"rating_{r}" for r in range(6)),
    "top_cancel_reasons",
    "top_reschedule_reasons",
]  # fmt: skip


def as_csv(out: AnalyticsOut) -> str:
    """One line per row of the JSON, the same names; ratings spread over `rating_0` … `rating_5`,
    reasons as `reason (count); …`; an empty cell for null."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in out.rows:
        line: dict[str, Any] = row.model_dump(mode="json")
        for rating, count in line.pop("ratings").items():
            line[f"rating_{rating}"] = count
        for name in ("top_cancel_reasons", "top_reschedule_reasons"):
            line[name] = "; ".join(f"{r['reason']} ({r['count']})" for r in line[name])
        writer.writerow({k: "" if v is None else v for k, v in line.items()})
    return buffer.getvalue()
