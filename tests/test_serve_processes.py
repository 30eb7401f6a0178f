"""`bookd serve --processes N`: on PostgreSQL, N processes answer on one port and one scheduler runs
beside them; SQLite, which admits one writer process, refuses more than one.

Which process answered is read from /proc: the process holding the server's end of the
connection, and its parent."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from tests.processes import BOOKD, bookd_env, free_port, serving


def _tcp_address(port: int) -> str:
    """127.0.0.1:port as /proc/net/tcp writes it (the address in this machine's byte order)."""
    address = int.from_bytes(socket.inet_aton("127.0.0.1"), sys.byteorder)
    return f"{address:08X}:{port:04X}"


def server_end_owner(connection: socket.socket) -> int:
    """The process that holds the server's end of `connection` (an open TCP connection to
    127.0.0.1): the one that accepted it."""
    server = _tcp_address(connection.getpeername()[1])
    client = _tcp_address(connection.getsockname()[1])
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    [inode] = [row[9] for row in rows if row[1] == server and row[2] == client]
    target = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(str(fd.readlink()) == target for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:  # a process that ended meanwhile, or not ours to read
            continue
    raise AssertionError(f"no process holds {target}")


def parent_of(pid: int) -> int:
    # The fields after the command's name, which is in parentheses and may hold spaces.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


async def _scheduler_pids(url: str) -> list[int]:
    """The processes that ran a scheduler on `url`: its heartbeat rows are named host:pid:tag."""
    conn = await asyncpg.connect(url)
    try:
        names = [row["name"] for row in await conn.fetch("SELECT name FROM scheduler_workers")]
    finally:
        await conn.close()
    return [int(name.split(":")[-2]) for name in names]


def test_api_processes_share_the_port_and_one_scheduler_runs_beside_them(
    tmp_path: Path, scratch_postgres: str
) -> None:
    # The API processes start after the one that starts them, importing the app side by side:
    # slower to answer than one process, more so on a busy machine.
    with serving(tmp_path, bookd_env(scratch_postgres), "--processes", "2", startup=50) as base:
        port = int(base.rsplit(":", 1)[1])
        answered: set[int] = set()
        deadline = time.monotonic() + 30
        # Every connection is accepted by whichever process is first to it: both are, soon.
        while len(answered) < 2:
            assert time.monotonic() < deadline, f"only {answered} answered"
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: bookd\r\n\r\n")
                assert connection.recv(4096).startswith(b"HTTP/1.1 200 ")
                answered.add(server_end_owner(connection))
        [server] = {parent_of(pid) for pid in answered}
        assert "serve" in cmdline(server) and str(port) in cmdline(server)

        # One scheduler, in the process that started the API processes. Each loop writes its
        # heartbeat on its first tick, as its process starts; a loop in an API process (which
        # has answered, so has started) would show within the grace below.
        while not asyncio.run(_scheduler_pids(scratch_postgres)):
            assert time.monotonic() < deadline, "no scheduler ticked"
            time.sleep(0.1)
        time.sleep(0.5)
        assert asyncio.run(_scheduler_pids(scratch_postgres)) == [server]

    # `serving` stopped the server with SIGTERM and checked it exited cleanly; so did both API
    # processes, before it.
    log = (tmp_path / f"serve-{port}.log").read_text()
    assert log.count("Application shutdown complete.") == 2, log
    for pid in answered:
        assert f"Finished server process [{pid}]" in log, log
        assert not Path(f"/proc/{pid}").exists()


def test_sqlite_refuses_more_than_one_process(tmp_path: Path) -> None:
    db_file = tmp_path / "bookd.db"
    done = subprocess.run(
        [str(BOOKD), "serve", "--processes", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env=bookd_env(f"sqlite:///{db_file}"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--processes 2 needs PostgreSQL: SQLite admits one writer process" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db_file.exists()  # refused before anything started, migrations included
