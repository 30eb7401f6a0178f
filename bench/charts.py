"""The console's analytics chart, rendered by the two libraries that can draw it on the server as
SVG: pygal (what bookd uses) and matplotlib. Not part of `make bench` (matplotlib is no dependency
of bookd): `pip install matplotlib && python -m bench.charts`.

The chart is the one a year by week makes: bookings by status, 52 stacked bars of 7 statuses.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections.abc import Callable

WEEKS = [f"w{i}" for i in range(52)]
STATUSES = ["pending", "confirmed", "in_progress", "completed", "cancelled", "no_show", "inactive"]
RUNS = 20


def _data() -> dict[str, list[int]]:
    rng = random.Random(1)
    return {s: [rng.randint(0, 400) for _ in WEEKS] for s in STATUSES}


def pygal_svg(data: dict[str, list[int]]) -> str:
    import pygal

    chart = pygal.StackedBar(
        js=[], disable_xml_declaration=True, width=900, height=360, x_label_rotation=30
    )
    chart.x_labels = WEEKS
    for status in STATUSES:
        chart.add(status, data[status])
    return str(chart.render(is_unicode=True))


def matplotlib_svg(data: dict[str, list[int]]) -> str:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = [0] * len(WEEKS)
    for status in STATUSES:
        ax.bar(WEEKS, data[status], bottom=bottom, label=status)
        bottom = [b + v for b, v in zip(bottom, data[status], strict=True)]
    ax.legend()
    ax.tick_params(axis="x", rotation=30)
    out = io.StringIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    return out.getvalue()


def measure(render: Callable[[dict[str, list[int]]], str]) -> tuple[float, float, int]:
    """The first render (with the import), the median of `RUNS` more (ms), the SVG's size."""
    data = _data()
    started = time.perf_counter()
    render(data)
    first = time.perf_counter() - started
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        svg = render(data)
        times.append(time.perf_counter() - started)
    return first * 1000, statistics.median(times) * 1000, len(svg)


def main() -> None:
    results = {
        name: measure(render)
        for name, render in (("pygal", pygal_svg), ("matplotlib", matplotlib_svg))
    }
    for name, (first, median, size) in results.items():
        print(
            f"{name}: first {first:.0f} ms (with the import), median {median:.1f} ms, {size // 1024} KB"
        )
    ratio = results["matplotlib"][1] / results["pygal"][1]
    print(f"matplotlib / pygal, median: {ratio:.1f}x")


if __name__ == "__main__":
    main()
