"""Analytics: the period and service pickers, charts (server-rendered SVG by pygal, shown as images
so that no inline style or script enters the page) and the same figures as tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pygal
from fastapi import APIRouter, Path, Query, Response
from pygal.style import Style

from bookd.analytics import service as analytics
from bookd.analytics.endpoints import query_of
from bookd.analytics.schemas import AnalyticsOut, AnalyticsQuery, Row
from bookd.bookings.counts import STATUSES
from bookd.catalog import service as catalog
from bookd.console.web import ConsoleRoute, SignedIn
from bookd.kit.errors import BookdError, NotFound
from bookd.kit.schemas import NO_NUL

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=50, pattern=NO_NUL)]
# A chart is an SVG document of its own: its styles are inline, and it runs no script.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
STATUS_COLOURS = ("#9aa5b8", "#3d7dd8", "#7a5cc7", "#1e7b34", "#b3261e", "#d08a00", "#5d6677")
# completed, cancelled, no-show: the colours of their statuses.
RATE_COLOURS = ("#1e7b34", "#b3261e", "#d08a00")


def _style(colours: tuple[str, ...] = STATUS_COLOURS) -> Style:
    return Style(
        background="white",
        plot_background="white",
        foreground="#1d2330",
        foreground_strong="#1d2330",
        foreground_subtle="#d8dce4",
        font_family="system-ui, sans-serif",
        colors=colours,
    )


def _query(start: str, end: str, service_uid: str, granularity: str) -> AnalyticsQuery:
    return query_of(start or None, end or None, service_uid or None, granularity or "week")


@router.get("/analytics")
async def analytics_page(
    page: SignedIn,
    start: Annotated[str, Query(alias="from", max_length=10, pattern=NO_NUL)] = "",
    end: Annotated[str, Query(alias="to", max_length=10, pattern=NO_NUL)] = "",
    service_uid: Text = "",
    granularity: Text = "",
) -> Response:
    services = await catalog.list_services(
        page.session, page.workspace_id, limit=catalog.MAX_SERVICES
    )
    asked = {"from": start, "to": end, "service_uid": service_uid, "granularity": granularity}
    errors: dict[str, str] = {}
    out = None
    try:
        query = _query(start, end, service_uid, granularity)
        out = await analytics.report(page.session, page.workspace, query, page.now)
    except BookdError as exc:
        if isinstance(exc, NotFound):
            errors["service_uid"] = exc.message
        for detail in exc.details:
            errors.setdefault(
                str(detail.get("field", "")) or "form", str(detail.get("message", ""))
            )
        errors.setdefault("form", exc.message)
    chart_query = {k: v for k, v in asked.items() if v}
    if out is not None:  # the range the report settled on, for the pickers and the charts
        chart_query |= {"from": out.start.isoformat(), "to": out.end.isoformat()}
    return page.render(
        "analytics.html",
        status=200 if out is not None else 422,
        title="Analytics",
        out=out,
        rows=[r for r in out.rows if r.service_uid == (service_uid or None)] if out else [],
        services=services,
        asked=asked,
        chart_query=chart_query,
        errors=errors,
        statuses=STATUSES,
    )


@router.get("/analytics/charts/{name}.svg")
async def analytics_chart(
    page: SignedIn,
    name: Annotated[str, Path(max_length=20, pattern=NO_NUL)],
    start: Annotated[str, Query(alias="from", max_length=10, pattern=NO_NUL)] = "",
    end: Annotated[str, Query(alias="to", max_length=10, pattern=NO_NUL)] = "",
    service_uid: Text = "",
    granularity: Text = "",
) -> Response:
    draw = CHARTS.get(name)
    if draw is None:
        raise NotFound(f"no chart {name!r}")
    query = _query(start, end, service_uid, granularity)
    out = await analytics.report(page.session, page.workspace, query, page.now)
    rows = [r for r in out.rows if r.service_uid == (service_uid or None)]
    svg = draw(out, rows).render(is_unicode=True)
    return Response(
        svg, media_type="image/svg+xml", headers={"content-security-policy": CHART_POLICY}
    )


def _chart(
    kind: Callable[..., Any], title: str, *, small: bool = False, colours: tuple[str, ...] = STATUS_COLOURS, **options: Any
) -> Any:  # fmt: skip
    """A pygal chart; `small` for the ones shown two abreast."""
    return kind(
        title=title,
        style=_style(colours),
        js=[],  # no script from elsewhere (and none runs: an image runs no script)
        disable_xml_declaration=True,
        width=450 if small else 900,
        height=300 if small else 360,
        legend_at_bottom=True,
        truncate_legend=-1,
        **options,
    )


def _label(row: Row, out: AnalyticsOut) -> str:
    if out.granularity == "month":
        return row.period_start.strftime("%b %Y")
    return row.period_start.strftime("%d %b")


def _statuses(out: AnalyticsOut, rows: list[Row]) -> Any:
    chart = _chart(pygal.StackedBar, "Bookings by status (by start day)", x_label_rotation=30)
    chart.x_labels = [_label(r, out) for r in rows]
    for status in STATUSES:
        chart.add(status.replace("_", " "), [getattr(r, status) for r in rows])
    return chart


def _rates(out: AnalyticsOut, rows: list[Row]) -> Any:
    chart = _chart(
        pygal.Line, "Rates", range=(0, 1), x_label_rotation=30, colours=RATE_COLOURS,
        value_formatter=lambda v: f"{v:.0%}" if v is not None else "—",
    )  # fmt: skip
    chart.x_labels = [_label(r, out) for r in rows]
    chart.add("completion", [r.completion_rate for r in rows])
    chart.add("cancellation", [r.cancellation_rate for r in rows])
    chart.add("no-show", [r.no_show_rate for r in rows])
    return chart


def _ratings(out: AnalyticsOut, rows: list[Row]) -> Any:
    chart = _chart(pygal.Bar, "Ratings", small=True, show_legend=False, print_values=True)
    chart.x_labels = [str(r) for r in range(6)]
    chart.add("bookings", [out.total.ratings[str(r)] for r in range(6)])
    return chart


def _reasons(out: AnalyticsOut, rows: list[Row]) -> Any:
    chart = _chart(
        pygal.HorizontalBar, "Top cancellation and reschedule reasons", print_values=True
    )
    for label, reasons in (
        ("cancelled", out.total.top_cancel_reasons),
        ("rescheduled", out.total.top_reschedule_reasons),
    ):
        for reason in reasons:
            chart.add(f"{label}: {reason.reason}", [reason.count])
    return chart


def _reminders(out: AnalyticsOut, rows: list[Row]) -> Any:
    chart = _chart(
        pygal.Bar, "No-show rate, with and without a reminder", small=True, range=(0, 1),
        print_values=True, colours=("#3d7dd8", "#9aa5b8"),
        value_formatter=lambda v: f"{v:.0%}" if v is not None else "—",
    )  # fmt: skip
    chart.add("with at least one reminder", [out.total.no_show_rate_with_reminder])
    chart.add("without", [out.total.no_show_rate_without_reminder])
    return chart


CHARTS: dict[str, Callable[[AnalyticsOut, list[Row]], Any]] = {
    "statuses": _statuses,
    "rates": _rates,
    "ratings": _ratings,
    "reasons": _reasons,
    "reminders": _reminders,
}
