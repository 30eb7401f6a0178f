"""Fixtures of the webhook tests: a real receiver, a worker on the app's database and clock, and
triggers that are removed when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bookd.worker import Worker
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Receiver, start_receiver
from tests.webhooks.support import Hooks


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = start_receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def worker(client: TestClient, clock: TestClock) -> Worker:
    app: Any = client.app
    return Worker(app.state.db, app.state.settings, clock=clock)


@pytest.fixture
def hooks(api: Api, receiver: Receiver) -> Iterator[Hooks]:
    hooks = Hooks(api, receiver)
    yield hooks
    hooks.remove_all()
