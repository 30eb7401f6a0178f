"""Real bookd processes, for the tests that need them: its command, a clean environment, a free
port, and `bookd serve` running until a block ends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BOOKD = Path(sys.executable).parent / "bookd"


def bookd_env(url: str | None = None, **settings: str) -> dict[str, str]:
    """This environment without any BOOKD_ setting of the caller's (but the tests' password cost,
    tests/conftest.py), then `url` and `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BOOKD_") or k == "BOOKD_ARGON2_PROFILE"
    }
    if url is not None:
        env["BOOKD_DATABASE_URL"] = url
    env.update(settings)
    return env


def new_api_key(url: str, cwd: Path, name: str = "ws", *args: str) -> str:
    """A new workspace's API key, made by `bookd workspace create name [args]` on `url`."""
    done = subprocess.run(
        [str(BOOKD), "workspace", "create", name, *args],
        cwd=cwd,
        env=bookd_env(url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key: str = json.loads(done.stdout)["api_key"]
    return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(cwd: Path, env: dict[str, str], *args: str, startup: float = 30) -> Iterator[str]:
    """`bookd serve [args]` on a free port until the block ends; yields its base URL once it
    answers. Stopped with SIGTERM; a block that ends normally also checks the shutdown was clean."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BOOKD), "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup
        while True:
            assert proc.poll() is None, f"bookd serve exited {proc.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"bookd serve did not answer:\n{log.read_text()}"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    # Uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM is a clean stop.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
