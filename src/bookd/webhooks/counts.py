"""What each delivery that ended adds to the analytics counters: succeeded or failed, and the
succeeded attempt's latency in buckets, on the workspace-local day it ended."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from typing import Any

# Latency of the attempt that succeeded, in milliseconds: bucket i holds latencies below
# LATENCY_BOUNDS[i]; the last, 30 s and more. A median is read to within its bucket.
LATENCY_BOUNDS = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)
LATENCIES = range(len(LATENCY_BOUNDS) + 1)
DAY_COLUMNS = ("succeeded", "failed", *(f"latency_{i}" for i in LATENCIES))
SHARDS = 4


def latency_bucket(latency_ms: int) -> int:
    return bisect_right(LATENCY_BOUNDS, max(0, latency_ms))


def columns_of(status: str, latency_ms: int) -> list[str]:
    """The counters a delivery that ended with `status` adds one to."""
    if status == "succeeded":
        return ["succeeded", f"latency_{latency_bucket(latency_ms)}"]
    return ["failed"]


def rows(totals: dict[tuple[int, date, int], dict[str, int]]) -> list[dict[str, Any]]:
    """Counter rows of (workspace, day, shard) → {column: amount}, every column present."""
    return [
        {"workspace_id": workspace_id, "day": day, "shard": shard}
        | {c: into.get(c, 0) for c in DAY_COLUMNS}
        for (workspace_id, day, shard), into in totals.items()
    ]
