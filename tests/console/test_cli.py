"""`bookd user create` and the first admin of `bookd init`, run as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.console.support import browser
from tests.test_cli import bookd, in_process


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
