"""How large the long runs are: small in `make test`, full in `make soak` (BOOKD_TEST_SOAK=1).

The crash, kill, race and real-clock tests carry the `soak` marker and take their sizes from here,
so that `make test` runs each of them once at a size that proves the path works and `make soak`
at the size that proves it holds.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

SOAK = os.environ.get("BOOKD_TEST_SOAK", "").lower() in ("1", "true", "yes")
# The limit of one soak test at full size; any other test fails after a minute (pyproject.toml).
SOAK_TIMEOUT = 900


def size(small: T, full: T) -> T:
    """`full` in a soak run, `small` otherwise."""
    return full if SOAK else small


def examples(full: int) -> int:
    """A property test's examples: `full` in a soak run, an eighth of it (at least 3) otherwise."""
    return full if SOAK else max(3, full // 8)
