"""The `bookd` command: serve, migrate, first-run setup, workspaces and API keys, MCP on stdio."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from bookd import migrate
from bookd.analytics import service as analytics
from bookd.config import Settings
from bookd.console import auth
from bookd.kit.clock import system_now
from bookd.kit.db import Database, is_sqlite
from bookd.kit.errors import BookdError
from bookd.kit.web import validation_details
from bookd.workspaces import service as workspaces

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(
    help="bookd: bookings, reminders, follow-ups and their events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of a workspace.", no_args_is_help=True)
user_app = typer.Typer(help="Admin users of the console.", no_args_is_help=True)
analytics_app = typer.Typer(help="The analytics counters.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(analytics_app, name="analytics")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")

T = TypeVar("T")
DEFAULT_ADMIN = "admin@bookd.local"


def _in_transaction(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one committed transaction: the CLI is an edge, like a request."""

    url = Settings.from_env().database_url
    migrate.upgrade(url)

    async def run() -> T:
        db = Database(url, pool_size=0)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except BookdError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _print(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj))


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending database migrations."""
    url = Settings.from_env().database_url
    migrate.upgrade(url)
    typer.echo("migrations applied", err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run the scheduler in this process too")] = True,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes serving the API on the port (more than 1: PostgreSQL only); the"
            " scheduler runs in one process whatever their number",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (off saves a few per cent of CPU per request)")
    ] = True,
) -> None:
    """Apply migrations, then serve the API (and, unless --no-worker, run the scheduler). With
    --processes N, N processes serve the API and the scheduler runs in the one that started them."""
    import uvicorn

    settings = Settings.from_env()
    if processes > 1 and is_sqlite(settings.database_url):
        typer.echo(
            f"error: --processes {processes} needs PostgreSQL: SQLite admits one writer process"
            " at a time, so bookd serves it from one process (--processes 1)",
            err=True,
        )
        raise typer.Exit(2)
    migrate.upgrade(settings.database_url)
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    # uvloop and httptools (uvicorn[standard]) by name: "auto" would fall back to the slower
    # pure-Python ones without a word if they were missing.
    run = functools.partial(
        uvicorn.run,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        loop="uvloop",
        http="httptools",
        # X-Forwarded-For and -Proto only from BOOKD_TRUSTED_PROXIES, never uvicorn's default
        # (any loopback peer) nor its FORWARDED_ALLOW_IPS: without them, the peer is the client.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=["*"] if "*" in proxies else proxies,
    )
    if processes == 1:
        from bookd.app import create_app

        application = create_app(settings, run_worker=worker)
        _freeze_heap()
        run(application)
        return
    # uvicorn's supervisor starts the API processes on one socket (each builds its app from the
    # environment: `api_process`), replaces one that dies, and on SIGTERM or SIGINT stops them all
    # and returns. The scheduler runs beside it in this process: one, however many serve the API.
    with _scheduler_thread(settings) if worker else contextlib.nullcontext():
        run(
            "bookd.cli:api_process",
            factory=True,
            workers=processes,
            # The supervisor takes a process that does not answer its ping within this for hung,
            # and replaces it. A starting process answers once its imports are done: seconds of
            # CPU each, longer when several start on few cores. uvicorn's 5 s would replace them
            # over and over there.
            timeout_worker_healthcheck=60,
        )


def api_process() -> FastAPI:
    """The app of one of `bookd serve --processes N`'s API processes (uvicorn's factory): the
    settings from the environment it inherits, no scheduler."""
    from bookd.app import create_app

    application = create_app()
    _freeze_heap()
    return application


@contextlib.contextmanager
def _scheduler_thread(settings: Settings) -> Iterator[None]:
    """The scheduler and the deliveries (`bookd worker`'s loops) on a thread of this process
    while the block runs; stopped at its end, once the batch under way has committed."""
    import threading

    import uvloop

    stop = asyncio.Event()
    loops = _worker_loops(settings, stop)
    _freeze_heap()
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    loop = runner.get_loop()  # made here, before the thread runs it, to be stopped from here
    thread = threading.Thread(target=runner.run, args=(loops,), name="bookd-scheduler")
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        runner.close()


def _worker_loops(settings: Settings, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The worker's loops, to run until `stop` is set, on a database pool of their own (their
    modules are imported here, before the caller freezes the heap)."""
    from bookd.worker import Worker

    async def run() -> None:
        # A connection for each scheduler lane and its short reads between batches, and a few
        # for the deliveries, which record their outcomes concurrently.
        db = Database(settings.database_url, pool_size=settings.scheduler_concurrency + 4)
        try:
            await Worker(db, settings).run(stop)
        finally:
            await db.dispose()

    return run()


@app.command("worker")
def worker_command(
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus metrics on this port (0: none)")
    ] = 0,
) -> None:
    """Apply migrations, then run the scheduler until SIGTERM or SIGINT (the batch under way
    commits first)."""
    import logging
    import signal

    from prometheus_client import start_http_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    migrate.upgrade(settings.database_url)
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")

    stop = asyncio.Event()
    loops = _worker_loops(settings, stop)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await loops

    _freeze_heap()
    # uvloop, as `bookd serve` runs on it (uvicorn[standard]): the webhook pipeline's socket work
    # costs markedly less there.
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())


MCP_TOKEN = "BOOKD_MCP_TOKEN"


@app.command("mcp")
def mcp_command() -> None:
    """Serve the MCP tools on stdin and stdout, for an AI agent runtime on this machine. The
    credential, an API key (every tool, as staff) or a customer token (the customer's tools),
    comes from BOOKD_MCP_TOKEN; it is checked at every request. Applies migrations first."""
    from bookd.agents.server import serve_stdio

    token = os.environ.get(MCP_TOKEN, "").strip()
    if not token:
        typer.echo(f"error: set {MCP_TOKEN} to an API key or a customer token", err=True)
        raise typer.Exit(2)
    url = Settings.from_env().database_url
    migrate.upgrade(url)

    async def run() -> None:
        db = Database(url, pool_size=2)
        try:
            await serve_stdio(db, token, system_now)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except BookdError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _freeze_heap() -> None:
    """Leave everything made while starting (modules, models, schemas, statements: hundreds of
    thousands of objects) out of the garbage collector's full passes. Those passes, set off by
    the many short-lived objects of each request or batch, traversed all of it every time."""
    gc.collect()
    gc.freeze()


@app.command()
def init(
    name: Annotated[str, typer.Option(help="Name of the first workspace")] = "My workspace",
    timezone: Annotated[str, typer.Option(help="IANA timezone of the first workspace")] = "UTC",
    port: Annotated[int, typer.Option(help="Port shown in the example call")] = 8000,
    email: Annotated[str, typer.Option(help="Email of the first admin user")] = DEFAULT_ADMIN,
) -> None:
    """First run: migrate, and on an empty database create a workspace, its first admin user and
    an API key, and print the key and the admin's password once."""

    password = auth.generate_password()

    async def work(session: Any) -> workspaces.IssuedKey | None:
        if await workspaces.count_workspaces(session):
            return None
        now = system_now()
        workspace = await workspaces.create_workspace(session, name, timezone, now)
        await auth.create_user(
            session, workspace.id, auth.AdminUserCreate(email=email, password=password), now
        )
        return await workspaces.issue_api_key(session, workspace.id, now)

    issued = _in_transaction(work)
    if issued is None:
        typer.echo(
            "bookd: database already set up; `bookd apikey create --workspace ID` makes a new key."
        )
        return
    base = f"http://127.0.0.1:{port}"
    typer.echo(
        "\n".join(
            [
                "",
                f"bookd: created workspace {issued.workspace_id} ({name}, {timezone}).",
                f"  API key (shown once, keep it): {issued.key}",
                "  To follow the README's examples, paste these into your shell:",
                f"    export KEY={issued.key} API={base}",
                '    H="Authorization: Bearer $KEY"; J="Content-Type: application/json"',
                f"  Try:  curl -H 'Authorization: Bearer {issued.key}' {base}/v1/services",
                f"  API docs: {base}/docs",
                f"  Admin console: {base}/  sign in as {auth.normalise_email(email)}",
                f"    with the password (shown once, keep it): {password}",
                "",
            ]
        )
    )


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Workspace name")],
    timezone: Annotated[str, typer.Option(help="IANA timezone, e.g. Europe/Berlin")] = "UTC",
) -> None:
    """Create a workspace and its first API key; prints JSON with workspace_id and api_key."""

    async def work(session: Any) -> dict[str, Any]:
        now = system_now()
        try:
            workspace = await workspaces.create_workspace(session, name, timezone, now)
        except ValueError as exc:
            raise BookdError(str(exc)) from None
        issued = await workspaces.issue_api_key(session, workspace.id, now)
        return {
            "workspace_id": workspace.id,
            "name": workspace.name,
            "timezone": workspace.timezone,
            "api_key": issued.key,
            "api_key_id": issued.id,
        }

    _print(_in_transaction(work))


@apikey_app.command("create")
def apikey_create(
    workspace: Annotated[int, typer.Option(help="Workspace id")],
    name: Annotated[str, typer.Option(help="A label for the key")] = "default",
) -> None:
    """Issue a new API key; prints JSON with the key (shown once)."""

    async def work(session: Any) -> dict[str, Any]:
        issued = await workspaces.issue_api_key(session, workspace, system_now(), name=name)
        return {"workspace_id": issued.workspace_id, "api_key_id": issued.id, "api_key": issued.key}

    _print(_in_transaction(work))


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(help="API key id")]) -> None:
    """Revoke an API key: it stops working at once."""

    async def work(session: Any) -> None:
        await workspaces.revoke_api_key(session, key_id, system_now())

    _in_transaction(work)
    _print({"api_key_id": key_id, "revoked": True})


@analytics_app.command("rebuild")
def analytics_rebuild(
    workspace: Annotated[
        int | None, typer.Option(help="Workspace id; default: every workspace")
    ] = None,
) -> None:
    """Make the analytics counters again from the bookings, their reminders and follow-ups and
    the deliveries (after upgrading to a version that keeps them, or changing a workspace's
    timezone); one transaction per workspace. Prints JSON: the bookings counted per workspace."""
    url = Settings.from_env().database_url
    migrate.upgrade(url)

    async def run() -> dict[str, int]:
        db = Database(url, pool_size=0)
        counted: dict[str, int] = {}
        try:
            async with db.transaction() as session:
                ids = [workspace] if workspace else await workspaces.workspace_ids(session)
            for workspace_id in ids:
                async with db.transaction() as session:
                    found = await workspaces.get_workspace(session, workspace_id)
                    counted[str(workspace_id)] = await analytics.rebuild(session, found)
        finally:
            await db.dispose()
        return counted

    try:
        _print({"bookings_counted": asyncio.run(run())})
    except BookdError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@user_app.command("create")
def user_create(
    workspace: Annotated[int, typer.Option(help="Workspace id")],
    email: Annotated[str, typer.Option(help="The admin's email (signs in with it)")],
    generate: Annotated[
        bool, typer.Option(help="Generate the password instead of asking for it")
    ] = False,
) -> None:
    """Create an admin user of the console. Asks for the password on a terminal; generates one
    (printed once) with --generate or when no terminal is attached."""
    password = None
    if not generate and sys.stdin.isatty():
        password = typer.prompt(
            "Password (empty: generate one)",
            default="",
            hide_input=True,
            confirmation_prompt=True,
            show_default=False,
        )
    generated = not password
    password = password or auth.generate_password()

    async def work(session: Any) -> dict[str, Any]:
        try:
            data = auth.AdminUserCreate(email=email, password=password)
        except ValidationError as exc:
            raise BookdError(
                "; ".join(f"{d['field']}: {d['message']}" for d in validation_details(exc.errors()))
            ) from None
        user = await auth.create_user(session, workspace, data, system_now())
        out: dict[str, Any] = {"admin_user_id": user.id, "workspace_id": workspace}
        out["email"] = user.email
        if generated:
            out["password"] = password
        return out

    _print(_in_transaction(work))


def main() -> None:
    app()
