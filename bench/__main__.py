"""`make bench` / `python -m bench [1 2 3 4 5 6 7]`: run the workloads, print the table, write
bench/results/latest.json. BOOKD_BENCH_QUICK=1 scales every workload down for a quick look.
`python -m bench --markdown` writes the last full run's tables into docs/performance.md (every
row) and the README (the rows with a target)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import QUICK, RESULTS, ROOT, Row, log, postgres_up, server_facts


def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    facts: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "src", "bench")),
        "quick": QUICK,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    facts.update(server_facts())
    return facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(rows: list[Row]) -> str:
    def fmt(value: float | None) -> str:
        if value is None:
            return ""
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"

    lines = [
        "| measurement | value | baseline | baseline value | ratio | target | met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.name} | {fmt(row.value)} {row.unit} | {row.baseline_name or ''} | "
            f"{fmt(row.baseline_value)} | {'' if row.ratio is None else f'{row.ratio:.2f}'} | "
            f"{row.target or ''} | {met} |"
        )
    return "\n".join(lines)


def show(path: str) -> int:
    """`python -m bench --table`: the table of the last full run (for the README), no new run."""
    document = json.loads((RESULTS / path).read_text())
    rows = [Row(**row) for row in document["results"]]
    print(table(rows))
    print("\n" + facts_line(document["machine"]))
    return 0


def facts_line(facts: dict[str, Any]) -> str:
    return (
        f"{facts['cpu_count']} CPUs ({facts['cpu_model']}), PostgreSQL "
        f"{facts['postgresql_version']}, commit {facts['commit'][:12]}, "
        f"{'quick' if facts['quick'] else 'full'} mode, {facts['seconds']:.0f} s"
    )


# The generated part of a document lies between these two lines.
BEGIN, END = "<!-- bench:results -->", "<!-- /bench:results -->"


def markdown() -> int:
    """Replace the results between BEGIN and END in docs/performance.md (every row) and in the
    README (the rows with a target) with the last full run's."""
    document = json.loads((RESULTS / "latest.json").read_text())
    rows = [Row(**row) for row in document["results"]]
    line = facts_line(document["machine"])
    # A workload added since the last full run: its rows from the partial run that measured it,
    # with that run's facts on a line of their own.
    partial = RESULTS / "partial.json"
    if partial.exists():
        extra = json.loads(partial.read_text())
        known = {row.name.split(" ", 1)[0] for row in rows}
        added = [
            Row(**row) for row in extra["results"] if row["name"].split(" ", 1)[0] not in known
        ]
        if added:
            rows += added
            workloads = sorted({row.name.split(" ", 1)[0] for row in added})
            line += f"; {', '.join(workloads)}: {facts_line(extra['machine'])}"
    for path, chosen in (
        (ROOT / "docs" / "performance.md", rows),
        (ROOT / "README.md", [row for row in rows if row.target]),
    ):
        text = path.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        if not rest or not tail:
            raise SystemExit(f"{path} has no {BEGIN} ... {END} section")
        path.write_text(f"{head}{BEGIN}\n{table(chosen)}\n\n{line}\n{END}{tail}")
        log(f"wrote the results of {line} into {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--table"]:
        return show(argv[1] if len(argv) > 1 else "latest.json")
    if argv[:1] == ["--markdown"]:
        return markdown()
    from bench import analytics, availability, creation, delivery, lateness, scale, throughput

    workloads = {
        "1": throughput.run,
        "2": lateness.run,
        "3": creation.run,
        "4": scale.run,
        "5": availability.run,
        "6": delivery.run,
        "7": analytics.run,
    }
    chosen = argv or list(workloads)
    if not postgres_up():
        log("no PostgreSQL answers (BOOKD_BENCH_POSTGRES_URL); the benchmarks need it")
        return 2
    began = time.monotonic()
    facts = machine()
    rows: list[Row] = []
    for key in chosen:
        rows.extend(workloads[key]())
    facts["seconds"] = round(time.monotonic() - began, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {"machine": facts, "results": [row.as_json() for row in rows]}
    name = "latest.json" if chosen == list(workloads) else "partial.json"
    (RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(table(rows))
    print(
        f"\n{facts['cpu_count']} CPUs ({facts['cpu_model']}), PostgreSQL "
        f"{facts['postgresql_version']}, commit {facts['commit'][:12]}"
        f"{' (with uncommitted changes)' if facts['dirty'] else ''}, "
        f"{'quick' if QUICK else 'full'} mode, {facts['seconds']:.0f} s; "
        f"written to bench/results/{name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
