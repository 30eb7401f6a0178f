"""Checks kept one per operation of the API, for the tests that try every operation in turn
(another workspace's key: `test_isolation.py`; a customer token: `test_customer_scope.py`), and
what they assert of an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tests.conftest import Api

W = TypeVar("W")
Operation = tuple[str, str]
"""(method, path as the OpenAPI document names it)"""


class Checks(dict[Operation, Callable[[W], None]], Generic[W]):
    """Each operation's check, by operation, in the order they were registered."""

    def covers(
        self, method: str, path: str
    ) -> Callable[[Callable[[W], None]], Callable[[W], None]]:
        """Register the decorated function as the check of `method path`."""

        def register(check: Callable[[W], None]) -> Callable[[W], None]:
            assert (method, path) not in self, (method, path)
            self[(method, path)] = check
            return check

        return register

    def run(self, world: W, present: set[Operation]) -> list[str]:
        """Every check of an operation in `present` (one may be written ahead of its endpoint),
        against `world`; what failed, one line each."""
        failures = []
        for (method, path), check in self.items():
            if (method, path) not in present:
                continue
            try:
                check(world)
            except AssertionError as exc:
                failures.append(f"{method} {path}: {exc}")
        return failures


def assert_refused(response: Any, status: int, code: str) -> None:
    """`response` is the error answer `status` with the error code `code`."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.json()["error"]["code"] == code, response.text


def answers(api: Api, paths: list[str]) -> dict[str, Any]:
    """What `api` reads at each of `paths`, each of which must answer 200."""
    state = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, f"{path}: {response.text}"
        state[path] = response.json()
    return state
