"""Every shell example in README.md and docs/*.md that talks to the API works when pasted, in
order, into a shell set up as `bookd init` tells (its `export KEY=… API=…` and `H=…; J=…` lines),
against a live `bookd serve` on a fresh database. The one change made to an example: a webhook's
URL on a public host becomes a local receiver's (this machine resolves no public names)."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.processes import BOOKD, bookd_env, serving

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
PUBLIC_HOOK = "https://example.com/bookd-hook"


def examples() -> list[tuple[str, str]]:
    """(where, script) of each example that calls the API: the README's first, then the docs'."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, script in enumerate(BLOCK.findall(path.read_text()), 1):
            if "curl" in script and "$API" in script:
                found.append((f"{path.relative_to(ROOT)} example {number}", script))
    return found


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bookd-hook"
    server.shutdown()


def test_every_api_example_works_as_pasted(tmp_path: Path, receiver: str) -> None:
    found = examples()
    assert len(found) >= 4, found  # the README's two and the webhook docs' two, at least
    url = f"sqlite:///{tmp_path / 'bookd.db'}"
    env = bookd_env(url, BOOKD_WEBHOOK_ALLOW_PRIVATE="true")
    init = subprocess.run(
        [str(BOOKD), "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert init.returncode == 0, init.stderr
    # The lines `bookd init` prints to paste, as printed.
    setup = [line.strip() for line in init.stdout.splitlines() if "export KEY=" in line]
    setup += [line.strip() for line in init.stdout.splitlines() if line.strip().startswith("H=")]
    assert len(setup) == 2, init.stdout
    with serving(tmp_path, env) as base:
        for where, script in found:
            shell = "\n".join(
                [
                    "set -euo pipefail",
                    *setup,
                    f"API={base}",  # the port this test's server listens on
                    # Every call must succeed: a refusal (4xx, 5xx) fails the example.
                    'curl() { command curl -sS --fail-with-body "$@"; echo; }',
                    script.replace(PUBLIC_HOOK, receiver),
                ]
            )
            done = subprocess.run(
                ["bash", "-c", shell], capture_output=True, text=True, timeout=60, cwd=tmp_path
            )
            assert done.returncode == 0, f"{where} failed:\n{script}\n{done.stdout}\n{done.stderr}"
