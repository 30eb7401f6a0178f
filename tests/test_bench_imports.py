"""`make bench` still starts after a change moves code: every benchmark module imports (the ones
that need the `bench` extra only where it is installed)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(BENCH)]) if m.name != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_module_imports(name: str) -> None:
    try:
        importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as missing:
        if missing.name and missing.name.split(".")[0] in {"procrastinate", "psycopg", "aiohttp"}:
            pytest.skip(f"needs the bench extra ({missing.name})")
        raise
