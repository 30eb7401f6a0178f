"""No module under src/ is over 600 lines: past that, a module holds more than one thing a reader
looks for, and is split by what it owns."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    sizes = {
        path.relative_to(SRC).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(SRC.rglob("*.py"))
    }
    over = [f"{name}: {count} lines" for name, count in sizes.items() if count > MAX_LINES]
    assert not over, f"over {MAX_LINES} lines:\n" + "\n".join(over)
