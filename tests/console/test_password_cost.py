"""Passwords are hashed at argon2id's production cost: RFC 9106's low-memory profile, t=3, 64 MiB,
p=4 (docs/configuration.md). The rest of the suite hashes at the cheapest cost
(BOOKD_ARGON2_PROFILE=cheapest, tests/conftest.py); this test runs `bookd` without it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.processes import BOOKD, bookd_env

PRODUCTION = "$argon2id$v=19$m=65536,t=3,p=4$"


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BOOKD), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_password_is_stored_at_the_production_cost(tmp_path: Path, scratch_sqlite: str) -> None:
    env = bookd_env(scratch_sqlite)
    del env["BOOKD_ARGON2_PROFILE"]
    made = run("workspace", "create", "Cost", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    workspace = json.loads(made.stdout)["workspace_id"]
    user = run(
        "user", "create", "--workspace", str(workspace), "--email", "cost@example.com",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    with sqlite3.connect(scratch_sqlite.removeprefix("sqlite:///")) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM admin_users").fetchall()
    assert stored.startswith(PRODUCTION), stored


def test_an_unknown_cost_profile_stops_bookd_with_its_name(tmp_path: Path) -> None:
    env = bookd_env(f"sqlite:///{tmp_path / 'bookd.db'}", BOOKD_ARGON2_PROFILE="fast")
    done = run("migrate", env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert "BOOKD_ARGON2_PROFILE" in done.stderr
