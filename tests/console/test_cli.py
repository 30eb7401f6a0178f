"""`bookd user create` and the first admin of `bookd init`, run as a user runs them."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import subprocess
import termios
import time
from pathlib import Path

from tests.console.support import browser
from tests.processes import BOOKD, bookd_env
from tests.test_cli import COMMAND_TIMEOUT, bookd, in_process


def test_user_create_generates_a_password_that_signs_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bookd.db'}"
    workspace = json.loads(bookd("workspace", "create", "Shop", cwd=tmp_path, url=url).stdout)
    done = bookd(
        "user", "create", "--workspace", str(workspace["workspace_id"]),
        "--email", "Owner@Example.com", cwd=tmp_path, url=url,
    )  # fmt: skip
    created = json.loads(done.stdout)
    assert created["email"] == "owner@example.com"
    assert created["workspace_id"] == workspace["workspace_id"]
    assert len(created["password"]) >= 16

    again = bookd(
        "user", "create", "--workspace", str(workspace["workspace_id"]),
        "--email", "owner@example.com", cwd=tmp_path, url=url, check=False,
    )  # fmt: skip
    assert again.returncode == 2
    assert "already exists" in again.stderr
    nowhere = bookd(
        "user", "create", "--workspace", "999", "--email", "x@example.com",
        cwd=tmp_path, url=url, check=False,
    )  # fmt: skip
    assert nowhere.returncode == 2
    assert "no workspace 999" in nowhere.stderr
    bad = bookd(
        "user", "create", "--workspace", "1", "--email", "not-an-email",
        cwd=tmp_path, url=url, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "email" in bad.stderr

    with in_process(url) as client:
        b = browser(client)
        assert b.sign_in("owner@example.com", created["password"]).status_code == 303
        assert "Shop" in b.get("/").text


def test_init_prints_the_first_admins_sign_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bookd.db'}"
    out = bookd("init", "--port", "8123", cwd=tmp_path, url=url).stdout
    assert "Admin console: http://127.0.0.1:8123/" in out
    email = re.search(r"sign in as (\S+)", out)
    password = re.search(r"password \(shown once, keep it\): (\S+)", out)
    assert email and password, out
    with in_process(url) as client:
        b = browser(client)
        assert b.sign_in(email.group(1), password.group(1)).status_code == 303
        assert "My workspace" in b.get("/settings").text


class Terminal:
    """A command on a pseudo-terminal of its own, as when a person types at it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()

        def own_terminal() -> None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env,
            preexec_fn=own_terminal, pass_fds=(slave,),
        )  # fmt: skip
        os.close(slave)
        self.output = b""

    def read_until(self, text: bytes) -> None:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while text not in self.output:
            assert time.monotonic() < deadline, self.output
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.output += os.read(self.master, 1024)
                except OSError:  # the command ended
                    assert text in self.output, self.output

    def type_secret(self, line: str) -> None:
        # A password prompt turns echo off and drops what was typed before: type once it has.
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, self.output
            time.sleep(0.01)
        os.write(self.master, line.encode() + b"\n")


def test_user_create_asks_for_the_password_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bookd.db'}"
    workspace = json.loads(bookd("workspace", "create", "Typed", cwd=tmp_path, url=url).stdout)
    env = bookd_env(url)
    terminal = Terminal(
        [str(BOOKD), "user", "create", "--workspace", str(workspace["workspace_id"]),
         "--email", "typist@example.com"],
        env,
    )  # fmt: skip
    try:
        terminal.read_until(b"Password")
        terminal.type_secret("typed at the keyboard")
        terminal.read_until(b"Repeat")
        terminal.type_secret("typed at the keyboard")
        terminal.read_until(b"}")
        assert terminal.proc.wait(timeout=COMMAND_TIMEOUT) == 0
    finally:
        if terminal.proc.poll() is None:
            terminal.proc.kill()
            terminal.proc.wait()
        os.close(terminal.master)
    created = json.loads(terminal.output[terminal.output.index(b"{") :])
    assert created["email"] == "typist@example.com"
    assert "password" not in created  # typed, so not printed
    assert b"typed at the keyboard" not in terminal.output  # not echoed
    with in_process(url) as client:
        assert (
            browser(client).sign_in("typist@example.com", "typed at the keyboard").status_code
            == 303
        )
