"""Chromium for the browser tests: one Debian Chromium per test process (each xdist worker),
started by the first test that asks for it and kept until the session ends; every test connects to
it with Playwright over the DevTools protocol and gets contexts of its own (`new_page`), which go
when it ends. Registered in tests/conftest.py.

Each test runs its own `sync_playwright()`: the sync API keeps an event loop running on the main
thread while it is open, which the async tests of the same process cannot share. Its driver
starts in a fraction of the time a browser takes.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bookd.console import auth
from bookd.kit.db import Database
from bookd.workspaces import service as workspaces

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
# An `expect` waits for its state as long as an action does (Playwright's own default is 5 s).
expect.set_options(timeout=WAIT_MS)


class Chromium:
    """A Chromium process listening for DevTools on a free port; started again if it went away
    during an earlier test (a crash fails that test alone)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def running(self) -> str:
        """The DevTools endpoint of a running Chromium."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        return self.endpoint

    def _start(self) -> None:
        active = self.folder / "DevToolsActivePort"
        active.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_ARGS, "--remote-debugging-port=0",
             f"--user-data-dir={self.folder}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert self.proc.poll() is None, f"chromium exited {self.proc.returncode}"
            assert time.monotonic() < deadline, "chromium never listened for DevTools"
            time.sleep(0.05)
        port = active.read_text().split()[0]
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """Debian's Chromium, for the whole session of this process."""
    started = Chromium(tmp_path_factory.mktemp("chromium"))
    yield started
    started.stop()


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[Browser]:
    """The session's Chromium, driven by this test through a Playwright of its own: the contexts
    the test opened are closed when it ends, passed or failed."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(chromium.running())
        try:
            yield browser
        finally:
            browser.close()  # over DevTools: closes the contexts made here, not Chromium


@pytest.fixture
def new_page(browser: Browser) -> Callable[..., Page]:
    """A page in a new context of its own: `new_page(base_url=base, viewport=…)` takes the
    options of `Browser.new_context`; the page waits up to WAIT_MS for a state."""

    def make(**options: Any) -> Page:
        page = browser.new_context(**options).new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    return make


@dataclass(frozen=True)
class Account:
    workspace_id: int
    api_key: str
    email: str | None = None
    password: str | None = None


def new_account(url: str, name: str, *, timezone: str = "UTC", email: str | None = None) -> Account:
    """A workspace with its first API key ("default") and, given an email, an admin with a
    generated password: what `bookd workspace create` and `bookd user create` make, without two
    processes to start. Made on a thread of its own, beside the browser's loop on this one."""

    async def make() -> Account:
        db = Database(url, pool_size=0)
        try:
            async with db.transaction() as session:
                now = datetime.now(UTC)
                workspace = await workspaces.create_workspace(session, name, timezone, now)
                issued = await workspaces.issue_api_key(session, workspace.id, now)
                password = None
                if email is not None:
                    password = auth.generate_password()
                    data = auth.AdminUserCreate(email=email, password=password)
                    await auth.create_user(session, workspace.id, data, now)
        finally:
            await db.dispose()
        return Account(workspace.id, issued.key, email, password)

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, make()).result()


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill the console's sign-in form on `page` (already at /sign-in) and send it."""
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
