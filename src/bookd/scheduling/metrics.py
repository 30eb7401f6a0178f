"""Prometheus metrics of the scheduler (served at /metrics by `bookd serve` and `bookd worker`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ITEMS = Counter("bookd_scheduler_items", "Due items processed, by kind", ["kind"])
LATENESS = Histogram(
    "bookd_scheduler_lateness_seconds",
    "Seconds between an item's due time and its processing",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 7200, float("inf")),
)
BATCH = Histogram("bookd_scheduler_batch_seconds", "Time to claim, process and commit one batch")
LAST_TICK = Gauge("bookd_scheduler_last_tick_timestamp_seconds", "When this process last ticked")
