"""No input answers a server error: every route of the API, of the console and of the self-service
page, driven with generated strings, numbers and dates on both databases.

The routes are read from the app itself: the API's operations from its OpenAPI document, the
console's from `console.endpoints.ROUTERS` and the self-service page's from
`selfservice.endpoints.ROUTERS`, so that a new route is driven without a change here.
Each parameter is given, one at a time, every value of `EDGES` (the inputs that once answered 500:
a NUL, which PostgreSQL text cannot hold; dates in the years 1 and 9999, whose neighbours are not
dates; numbers beyond a database integer), and then hypothesis draws whole requests whose values are
either real (objects seeded in the workspace, or what the console's own pages link to and offer in
their forms) or hostile.

Every answer must be below 500; the test client re-raises an exception of the app, which fails the
test as well. An error answer of the API is JSON in the documented shape; the pages answer HTML
(or the API's JSON 404 for a path no route takes), never plain text. A NUL in a path or query
parameter a route declares is refused (4xx) on both databases.

`BOOKD_FUZZ_EXAMPLES` raises the number of generated requests per route (default 8) for a longer
run; the runs are derandomized, so that a failure in CI shows again on a laptop.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.app import create_app
from bookd.config import Settings
from bookd.console.endpoints import ROUTERS
from bookd.console.web import SESSION_COOKIE
from bookd.selfservice.endpoints import ROUTERS as SELF_SERVICE_ROUTERS
from bookd.selfservice.web import CUSTOMER_COOKIE
from bookd.workspaces import service as workspaces
from tests import factories, sizes
from tests.conftest import Api, new_workspace
from tests.console.support import Browser, new_admin
from tests.selfservice.support import follow
from tests.selfservice.support import page as self_service_page

EXAMPLES = int(os.environ.get("BOOKD_FUZZ_EXAMPLES", str(sizes.examples(8))))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- the values ----------------------------------------------------------------------------------

EDGES = (
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "99999999999999999999",
    "-1",
    "\u00b2",  # a digit to str.isdigit, not to int()
    "../../etc/passwd",
    "\u202e\U0001f600",
)
MORE_EDGES = (
    "\x00",
    "%00",
    "",
    " ",
    "0",
    "2147483648",
    "9223372036854775808",
    "1e309",
    "NaN",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "8999-12-31T23:59:59Z",
    "9000-01-01",
    "1999-12-31",
    "2000-01-01T00:00:00-14:00",
    "null",
    "{}",
    "x" * 5000,
)
# For each field of a form, the edges its handling has tripped over.
FORM_EDGES = (
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "99999999999999999999",
    "\u00b2",
)
OFFSETS = st.integers(-24 * 60 + 1, 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
EDGE_DATES = st.sampled_from(
    [date.min, date(1, 1, 7), date(1999, 12, 31), date(8999, 12, 31), date(9999, 12, 25), date.max]
)
DATES = st.one_of(EDGE_DATES, st.dates())
DATETIMES = st.datetimes(timezones=st.none() | OFFSETS)
DATE_TEXT = st.one_of(
    DATES.map(date.isoformat),
    DATETIMES.map(datetime.isoformat),
    # an <input type="datetime-local">'s value
    DATETIMES.map(lambda d: d.replace(tzinfo=None).isoformat(timespec="minutes")),
)
NUMBER_TEXT = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**31 - 2, max_value=2**64).map(str),
    st.floats().map(str),
)
CONTROL_TEXT = st.text(
    st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\u0085\u2028\u202e\ufeff"),
    min_size=1,
    max_size=5,
)
PATH_TEXT = st.lists(
    st.sampled_from(["..", ".", "etc", "passwd", "%2e%2e", "%2F", "\\", "~", "C:", "?", "#"]),
    min_size=1,
    max_size=5,
).map("/".join)
HOSTILE = st.one_of(
    st.sampled_from(EDGES + MORE_EDGES),
    st.text(max_size=30),  # any code point but surrogates: NUL, controls, combining marks
    CONTROL_TEXT,
    NUMBER_TEXT,
    DATE_TEXT,
    PATH_TEXT,
)
# Header values as HTTP carries them: visible ASCII.
HEADER_TEXT = st.one_of(
    st.sampled_from(["99999999999999999999", "-1", '"1"', 'W/"1"', "", "x" * 300]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


def has_nul(values: dict[str, Any]) -> bool:
    return any("\x00" in str(v) for v in values.values())


# --- the API -------------------------------------------------------------------------------------

# The document as the app serves it; this app never opens its database.
APP = create_app(Settings(database_url="sqlite://", db_pool_size=0))
DOCUMENT = APP.openapi()
COMPONENTS = DOCUMENT["components"]["schemas"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    body: str | None
    """The name of the request body's schema ("" for a body without one), None for no body."""

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def named(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.parameters if p["in"] == where]


def _body_name(operation: dict[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content")
    if not content:
        return None
    schema = content["application/json"]["schema"]
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1]


OPERATIONS = [
    Operation(method.upper(), path, tuple(op.get("parameters", ())), _body_name(op))
    for path, methods in DOCUMENT["paths"].items()
    for method, op in methods.items()
]


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The parameter's own schema: `null` alternatives dropped, a reference resolved."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    found = options[0] if options else schema
    if "$ref" in found:
        found = COMPONENTS[found["$ref"].rsplit("/", 1)[-1]]
    return found


def _valid(schema: dict[str, Any]) -> st.SearchStrategy[str] | None:
    """Values the parameter's schema takes, where it says enough to make some."""
    schema = _schema(schema)
    if "enum" in schema:
        return st.sampled_from([str(v) for v in schema["enum"]])
    if schema.get("type") == "integer":
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        return st.integers(low, high).map(str)
    if schema.get("format") == "date-time":
        return st.datetimes(datetime(2000, 1, 1), datetime(8999, 12, 31), timezones=OFFSETS).map(
            datetime.isoformat
        )
    return None


@dataclass
class ApiWorld:
    """A workspace with one of everything, so that requests get past the 404s."""

    api: Api
    real: dict[str, list[str]]
    bodies: dict[str, Callable[[], Any]]


@pytest.fixture
def api_world(api: Api) -> Iterator[ApiWorld]:
    uid = factories.service(api)["service_uid"]
    for kind in ("reminders", "followups"):
        factories.template(api, uid, kind, days=1)
    ns = f"fuzz-{secrets.token_hex(3)}"
    booking = factories.booking(api, service_uid=uid, bot_user_ns=ns)
    trigger = api.post(
        "/v1/triggers", {"name": "fuzz", "url": "http://127.0.0.1:9/hook", "status": "paused"}
    ).json()
    delivery = api.post(f"/v1/triggers/{trigger['id']}/test").json()
    token = api.post("/v1/calendar-feed").json()["token"]
    customer = factories.customer(api, bot_user_ns=ns)
    host_uid = f"fuzz-host-{secrets.token_hex(3)}"
    assert api.post("/v1/hosts", {"host_uid": host_uid, "name": "Fuzz"}).status_code == 201
    serial = iter(range(10**6))
    real = {
        "service_uid": [uid],
        "booking_id": [str(booking["id"])],
        "bot_user_ns": [ns],
        "trigger_id": [str(trigger["id"])],
        "delivery_id": [str(delivery["id"])],
        "token": [token],
        "token_id": [str(customer.token_id)],
        "sequence": ["1"],
        "start_time": [factories.future(days=3)],
        "host_uid": [host_uid],
    }
    bodies: dict[str, Callable[[], Any]] = {
        "ServiceCreate": lambda: {
            "name": "Fuzz",
            "service_uid": f"fz{next(serial)}",
            "default_duration": 30,
        },
        "ServiceUpdate": lambda: {"name": "Fuzzed"},
        "TemplateCreate": lambda: {"title": "Fuzz", "hours": 2},
        "TemplateUpdate": lambda: {"title": "Fuzzed"},
        "AvailabilityIn": lambda: {"capacity": 3},
        "BookingCreate": lambda: {
            "service_uid": uid,
            "bot_user_ns": ns,
            "start_time": factories.future(days=5, minutes=next(serial)),
        },
        "BookingUpdate": lambda: {"notes": "fuzzed"},
        "RescheduleBody": lambda: {
            "start_time": factories.future(days=7, minutes=next(serial)),
            "reason": "fuzz",
        },
        "CancelBody": lambda: {"reason": "fuzz"},
        "RatingBody": lambda: {"rating": 4},
        "BotUserProfile": lambda: {"name": "Fuzz"},
        "TriggerCreate": lambda: {
            "name": "fuzz",
            "url": "http://127.0.0.1:9/hook",
            "status": "paused",
        },
        "TriggerUpdate": lambda: {"name": "fuzzed", "status": "paused"},
        "TriggerRecover": lambda: {"since": factories.iso(datetime.now(UTC) - timedelta(hours=1))},
        "CustomerTokenCreate": lambda: {"bot_user_ns": ns},
        "CustomerTokensRevoke": lambda: {"bot_user_ns": ns},
        "HostCreate": lambda: {"host_uid": f"fh{next(serial)}", "name": "Fuzz"},
        "HostUpdate": lambda: {"name": "Fuzzed", "time_off": []},
        "ServiceHostsIn": lambda: {"hosts": [{"host_uid": host_uid}]},
        "": dict,  # the action API's parameters: none is the list of services
    }
    yield ApiWorld(api=api, real=real, bodies=bodies)
    _delete_triggers(api)


def _delete_triggers(api: Api) -> None:
    # Nothing delivers them here, but other tests' workers deliver what is due in this database.
    while hooks := api.get("/v1/triggers", params={"limit": 200}).json()["data"]:
        for hook in hooks:
            assert api.delete(f"/v1/triggers/{hook['id']}").status_code == 204


def check_api(response: httpx.Response, *, refused: bool, what: str) -> None:
    status = response.status_code
    assert status < 500, (what, status, response.text[:500])
    if refused:
        assert 400 <= status < 500, (what, "a NUL was taken", status, response.text[:500])
    if status >= 400:
        assert response.headers["content-type"].startswith("application/json"), (what, status)
        body = response.json()
        assert list(body) == ["error"], (what, body)
        error = body["error"]
        assert set(error) == {"code", "message", "details"}, (what, body)
        assert isinstance(error["code"], str) and isinstance(error["message"], str), (what, body)
        assert isinstance(error["details"], list), (what, body)


def call_api(
    world: ApiWorld,
    operation: Operation,
    path_values: dict[str, str],
    query: dict[str, str],
    headers: dict[str, str],
) -> None:
    url = re.sub(r"\{(\w+)\}", lambda m: quote(path_values[m.group(1)], safe=""), operation.path)
    body = None
    if operation.body is not None:
        assert operation.body in world.bodies, (
            f"{operation}: add a valid {operation.body or 'body'} to the bodies of `api_world`"
        )
        body = world.bodies[operation.body]()
    response = world.api.request(operation.method, url, params=query, json=body, headers=headers)
    refused = has_nul(path_values) or has_nul(query)
    check_api(response, refused=refused, what=f"{operation.method} {url} {query} {headers}")


def _api_values(world: ApiWorld, parameter: dict[str, Any]) -> st.SearchStrategy[str]:
    if parameter["in"] == "header":
        return HEADER_TEXT
    options = [HOSTILE]
    if real := world.real.get(parameter["name"]):
        options.append(st.sampled_from(real))
    if (valid := _valid(parameter["schema"])) is not None:
        options.append(valid)
    return st.one_of(*reversed(options))


def _api_defaults(world: ApiWorld, parameters: list[dict[str, Any]]) -> dict[str, str]:
    """A real or valid value for each parameter (what `EDGES` are swapped into)."""
    return {
        p["name"]: world.real[p["name"]][0]
        if p["name"] in world.real
        else _first_valid(p["schema"])
        for p in parameters
    }


def _first_valid(schema: dict[str, Any]) -> str:
    schema = _schema(schema)
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(max(schema.get("minimum", 1), 1))
    return "x"


@pytest.mark.soak
@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_api_operation_answers_no_server_error(operation: Operation, api_world: ApiWorld) -> None:
    defaults = _api_defaults(api_world, operation.named("path"))
    required = _api_defaults(api_world, [p for p in operation.named("query") if p["required"]])
    # Every edge in every parameter, the others real.
    for parameter in operation.named("path") + operation.named("query"):
        for edge in EDGES:
            path_values, query = dict(defaults), dict(required)
            where = path_values if parameter["in"] == "path" else query
            where[parameter["name"]] = edge
            call_api(api_world, operation, path_values, query, {})

    values = {
        (p["in"], p["name"]): _api_values(api_world, p)
        for p in operation.parameters
        if p["in"] in ("path", "query", "header")
    }

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        drawn = {"path": dict(defaults), "query": {}, "header": {}}
        for (where, name), strategy in values.items():
            if where == "path" or data.draw(st.booleans(), label=f"send {name}"):
                drawn[where][name] = data.draw(strategy, label=f"{where} {name}")
        call_api(api_world, operation, drawn["path"], drawn["query"], drawn["header"])

    run()


# --- the console ---------------------------------------------------------------------------------


def _routes(routers: tuple[Any, ...]) -> list[tuple[str, APIRoute]]:
    return [
        (method, route)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]


CONSOLE_ROUTES = _routes(ROUTERS)
SELF_SERVICE_ROUTES = _routes(SELF_SERVICE_ROUTERS)


def _declared_query(route: APIRoute) -> set[str]:
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(p.alias for p in dependant.query_params)
        pending.extend(dependant.dependencies)
    return names


@dataclass
class Form:
    page: str
    method: str
    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    """Checkbox groups: a field sent with several values."""
    own_token: bool = False
    """Its CSRF token is not the session's (the sign-in form's is double-submitted)."""


class _PageParser(HTMLParser):
    """The links and forms of a console page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"].split("#")[0])
        elif tag == "form":
            action = (a.get("action") or self.page).split("#")[0]
            self._form = Form(self.page, a.get("method", "get").upper(), action)
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select") and "name" in a:
            name = a["name"]
            values = self._form.fields.setdefault(name, [])
            if tag == "select":
                self._select = name
            elif a.get("type") == "checkbox":
                if values:
                    self._form.repeated.add(name)
                values.append(a.get("value") or "on")
            else:
                values.append(a.get("value", ""))
        elif tag == "option" and self._form is not None and self._select is not None:
            self._form.fields[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


@dataclass
class ConsoleWorld:
    """A signed-in admin of a workspace with one of everything, and what its pages offer."""

    api: Api
    browser: Browser
    email: str
    links: list[str]
    forms: list[Form]
    tokens: dict[str, str] = field(default_factory=dict)
    """The CSRF tokens of forms that do not carry the session's, by page."""
    fresh: dict[str, list[str]] = field(default_factory=dict)
    """Objects made for the running test, by parameter name: tried before those the pages showed
    (which an earlier test's examples may have deleted)."""

    @property
    def csrf(self) -> str:
        return self.browser.csrf

    def keep_signed_in(self) -> None:
        """After a request: a new session if the fuzzer ended this one."""
        if SESSION_COOKIE not in self.browser.cookies:
            self.sign_in_again()

    def sign_in_again(self) -> None:
        """After a sign-out (or a session the fuzzer ended): a new session and its CSRF token."""
        self.browser.cookies.pop(SESSION_COOKIE, None)
        self.tokens.clear()
        response = self.browser.sign_in(self.email)
        assert response.status_code == 303, response.text[:500]
        assert self.browser.get("/").status_code == 200


def _seed_console(api: Api) -> None:
    uid = factories.service(api, service_uid=f"svc-{secrets.token_hex(3)}")["service_uid"]
    for kind in ("reminders", "followups"):
        factories.template(api, uid, kind, days=1)
    assert api.put(f"/v1/services/{uid}/availability", {"capacity": 2}).status_code == 200
    factories.service(api, service_uid=f"open-{secrets.token_hex(3)}")
    booking = factories.booking(api, service_uid=uid)
    assert api.post(f"/v1/bookings/{booking['id']}/confirm").status_code == 200
    trigger = api.post(
        "/v1/triggers", {"name": "fuzz", "url": "http://127.0.0.1:9/hook", "status": "paused"}
    ).json()
    assert api.post(f"/v1/triggers/{trigger['id']}/test").status_code == 202
    new_admin(api)  # another admin, whom the settings page offers to remove


def _crawl(
    world: ConsoleWorld,
    start: list[str],
    *,
    per_route: int = 3,
    routes: list[tuple[str, APIRoute]] = CONSOLE_ROUTES,
) -> None:
    """Follow the pages' own links, a few pages per route, collecting links and forms."""
    gets = [r for m, r in routes if m == "GET"]
    seen: set[str] = set()
    visits: dict[str, int] = {}
    queue = list(start)
    while queue:
        url = queue.pop(0)
        path = urlsplit(url).path
        route = next((r for r in gets if r.path_regex.match(path)), None)
        if url in seen or route is None or visits.get(route.path, 0) >= per_route:
            continue
        seen.add(url)
        visits[route.path] = visits.get(route.path, 0) + 1
        response = world.browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if not response.headers["content-type"].startswith("text/html"):
            continue
        parser = _PageParser(path)
        parser.feed(response.text)
        world.links.extend(parser.links)
        world.forms.extend(parser.forms)
        queue.extend(parser.links)
        queue.extend(f.action for f in parser.forms if f.method == "GET")


def _testclient_at(client: TestClient, address: str) -> TestClient:
    """The app on the session's event loop, seen from a client address of its own: the console
    counts failed sign-ins per address, and the fuzzer's must not lock other tests out."""
    other = TestClient(client.app, client=(address, 50000))
    other.portal = client.portal
    return other


@pytest.fixture(scope="module")
def console_world(client: TestClient) -> Iterator[ConsoleWorld]:
    # The zone furthest ahead of UTC (+14:00): a day's midnight there is the day before in UTC.
    api = new_workspace(client, timezone="Pacific/Kiritimati")
    _seed_console(api)
    email = new_admin(api)
    browser = Browser(client=_testclient_at(client, f"fuzz-{secrets.token_hex(4)}"), cookies={})
    world = ConsoleWorld(api=api, browser=browser, email=email, links=[], forms=[])
    world.sign_in_again()
    session_token = world.csrf
    start = ["/", "/bookings?view=week", "/bookings/new", "/services", "/triggers", "/sign-in"]
    _crawl(world, start)
    for form in world.forms:
        form.own_token = form.fields.get("csrf_token", [session_token]) != [session_token]
    world.browser.get("/")  # the session's CSRF token again, not the last page's
    yield world
    _delete_triggers(_fresh_key(api))


def _fresh_key(api: Api) -> Api:
    """Another key of the workspace: the fuzzer may have revoked any it saw."""

    async def work(session: AsyncSession) -> str:
        issued = await workspaces.issue_api_key(session, api.workspace_id, datetime.now(UTC))
        return issued.key

    return Api(client=api.client, workspace_id=api.workspace_id, key=api.run(work), backend="")


@pytest.fixture
def console(console_world: ConsoleWorld) -> ConsoleWorld:
    """The world with a session, and a booking and a trigger of this test's own (the previous
    route's examples may have deleted those the pages showed)."""
    if SESSION_COOKIE not in console_world.browser.cookies:
        console_world.sign_in_again()
    api = _fresh_key(console_world.api)
    uid = next(
        s["service_uid"]
        for s in api.get("/v1/services").json()["data"]
        if s["service_uid"].startswith("svc-")
    )
    # The fuzzer may have paused the service or closed its hours.
    assert api.patch(f"/v1/services/{uid}", {"status": "active"}).status_code == 200
    start = factories.future(days=40)
    booking = factories.booking(api, service_uid=uid, start_time=start, force=True)
    trigger = api.post(
        "/v1/triggers", {"name": "fresh", "url": "http://127.0.0.1:9/hook", "status": "paused"}
    ).json()
    delivery = api.post(f"/v1/triggers/{trigger['id']}/test").json()
    console_world.fresh = {
        "booking_id": [str(booking["id"])],
        "trigger_id": [str(trigger["id"])],
        "delivery_id": [str(delivery["id"])],
        "uid": [uid],
    }
    return console_world


@dataclass
class RoutePlan:
    """What the console's pages show of one route: its addresses' parameters, its query names and
    its forms' fields, each with the values seen."""

    method: str
    route: APIRoute
    path_values: dict[str, list[str]]
    query: dict[str, list[str]]
    forms: list[Form]

    @property
    def declared(self) -> set[str]:
        return _declared_query(self.route)


def _owner(method: str, path: str) -> APIRoute | None:
    """The page route that answers `method path`: the first that matches, as in the app."""
    return next(
        (
            r
            for m, r in CONSOLE_ROUTES + SELF_SERVICE_ROUTES
            if m == method and r.path_regex.match(path)
        ),
        None,
    )


def plan(world: ConsoleWorld, method: str, route: APIRoute) -> RoutePlan:
    path_values: dict[str, list[str]] = {
        name: list(world.fresh.get(name, [])) for name in route.param_convertors
    }
    query: dict[str, list[str]] = {name: [] for name in _declared_query(route)}
    forms = [f for f in world.forms if f.method == method and _owner(method, f.action) is route]
    targets = [f.action for f in forms] + (world.links if method == "GET" else [])
    for target in targets:
        parts = urlsplit(target)
        if _owner(method, parts.path) is not route:
            continue
        found = route.path_regex.match(parts.path)
        assert found is not None
        for name, value in found.groupdict().items():
            path_values.setdefault(name, []).append(value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
    if method == "GET":
        for form in forms:
            for name, values in form.fields.items():
                query.setdefault(name, []).extend(values)
    unique = {n: list(dict.fromkeys(v)) for n, v in path_values.items()}
    return RoutePlan(method, route, unique, query, forms)


def check_console(response: httpx.Response, *, refused: bool, what: str) -> None:
    status = response.status_code
    assert status < 500, (what, status, response.text[:500])
    if refused:
        assert 400 <= status < 500, (what, "a NUL was taken", status, response.text[:300])
    kind = response.headers.get("content-type", "")
    if status in (301, 302, 303, 307, 308):
        assert response.headers.get("location"), what
    elif kind.startswith("application/json"):
        # The app's own 404 or 405 for an address no console route takes.
        assert status in (404, 405), (what, status, response.text[:300])
    elif status == 200 and kind.startswith("text/calendar"):
        pass
    else:
        assert kind.startswith("text/html"), (what, status, kind, response.text[:300])


def _url(route: APIRoute, values: dict[str, str]) -> str:
    return re.sub(
        r"\{(\w+)(:\w+)?\}", lambda m: quote(values.get(m.group(1), "x"), safe=""), route.path
    )


def call_console(
    world: ConsoleWorld,
    route_plan: RoutePlan,
    path_values: dict[str, str],
    query: dict[str, str],
    form: dict[str, Any] | None,
) -> None:
    url = _url(route_plan.route, path_values)
    declared = {k: v for k, v in query.items() if k in route_plan.declared}
    refused = has_nul(path_values) or has_nul(declared)
    what = f"{route_plan.method} {url} {query} {form}"
    if form is None:
        response = world.browser.request(route_plan.method, url, params=query)
    else:
        response = world.browser.request(route_plan.method, url, params=query, data=form)
    check_console(response, refused=refused, what=what)
    if response.status_code == 403:
        world.tokens.clear()
    world.keep_signed_in()


def _form_token(world: ConsoleWorld, form: Form) -> str:
    """The CSRF token the form carries: the session's, or (sign-in) the one its page sets, read
    again after a refusal."""
    if not form.own_token:
        return world.csrf
    if form.page not in world.tokens:
        page = world.browser.get(form.page)
        world.tokens[form.page] = re.findall(r'name="csrf_token" value="([^"]*)"', page.text)[0]
        world.browser.get("/")  # the session's token again
    return world.tokens[form.page]


def _console_strategy(values: list[str]) -> st.SearchStrategy[str]:
    real = [v for v in values if v]
    if not real:
        return HOSTILE
    return st.one_of(st.sampled_from(real), HOSTILE)


def _form_path(world: ConsoleWorld, route: APIRoute, form: Form) -> dict[str, str]:
    """The path parameters of the form's own address, this test's fresh objects swapped in."""
    found = route.path_regex.match(urlsplit(form.action).path)
    assert found is not None
    values = dict(found.groupdict())
    for name in values:
        if name in world.fresh:
            values[name] = world.fresh[name][0]
    return values


def _distinct(forms: list[Form]) -> list[Form]:
    """One form per set of fields (a page seen three times shows its forms three times)."""
    return list({frozenset(f.fields): f for f in reversed(forms)}.values())


def drive(console: ConsoleWorld, method: str, route: APIRoute) -> None:
    """Every edge in each of the route's parameters and form fields, then generated requests."""
    route_plan = plan(console, method, route)
    defaults = {n: (v[0] if v else "1") for n, v in route_plan.path_values.items()}
    posted = method == "POST"
    forms = _distinct(route_plan.forms)

    def form_of(chosen: Form | None, fields: dict[str, Any]) -> dict[str, Any] | None:
        if not posted:
            return None
        token = _form_token(console, chosen) if chosen is not None else console.csrf
        return {**fields, "csrf_token": token}

    def real_fields(chosen: Form | None) -> dict[str, Any]:
        if chosen is None:
            return {}
        return {n: (v[0] if v else "") for n, v in chosen.fields.items() if n != "csrf_token"}

    # Every edge in every path and query parameter and form field, the others as the page has them.
    first = forms[0] if forms else None
    for name in route_plan.path_values:
        for edge in EDGES:
            form = form_of(first, real_fields(first))
            call_console(console, route_plan, {**defaults, name: edge}, {}, form)
    for name in sorted(route_plan.query) if not posted else []:
        for edge in EDGES:
            call_console(console, route_plan, defaults, {name: edge}, None)
    for chosen in forms if posted else []:
        own_path = _form_path(console, route, chosen)
        for name in chosen.fields:
            if name == "csrf_token":
                continue
            for edge in FORM_EDGES:
                fields = {**real_fields(chosen), name: edge}
                call_console(console, route_plan, own_path, {}, form_of(chosen, fields))

    path_strategies = {n: _console_strategy(v) for n, v in route_plan.path_values.items()}
    query_strategies = {n: _console_strategy(v) for n, v in route_plan.query.items()}

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        chosen = data.draw(st.sampled_from(forms), label="form") if forms else None
        if chosen is not None and data.draw(st.booleans(), label="the form's own address"):
            path_values = _form_path(console, route, chosen)
        else:
            path_values = {n: data.draw(s, label=f"path {n}") for n, s in path_strategies.items()}
        query: dict[str, str] = {}
        if not posted:
            for name, strategy in query_strategies.items():
                if data.draw(st.booleans(), label=f"send {name}"):
                    query[name] = data.draw(strategy, label=f"query {name}")
        fields: dict[str, Any] = {}
        seen_fields = chosen.fields if chosen and posted else {}
        repeated = chosen.repeated if chosen else set()
        for name, seen in seen_fields.items():
            if name == "csrf_token" or not data.draw(st.booleans(), label=f"send {name}"):
                continue
            one = _console_strategy(seen)
            if name in repeated:
                fields[name] = data.draw(st.lists(one, max_size=3), label=name)
            else:
                fields[name] = data.draw(one, label=name)
        call_console(console, route_plan, path_values, query, form_of(chosen, fields))

    run()


# --- the self-service page ------------------------------------------------------------------------


@dataclass
class SelfServiceWorld(ConsoleWorld):
    """A customer's browser, with the link's cookie, on the pages of its bookings, and what they
    offer. `email` is unused: a customer does not sign in."""

    token: str = ""
    uid: str = ""
    ns: str = ""
    """The service and the bot user of the customer's bookings."""

    def keep_signed_in(self) -> None:
        """After a request: the cookie again (the page never drops it; a fuzzed link might)."""
        if CUSTOMER_COOKIE not in self.browser.cookies:
            self.browser = follow(self.api, int(self.fresh["booking_id"][0]), self.token)


@pytest.fixture(scope="module")
def self_service_world(client: TestClient) -> SelfServiceWorld:
    api = new_workspace(client, timezone="Pacific/Kiritimati")
    uid = factories.service(api, service_uid=f"svc-{secrets.token_hex(3)}")["service_uid"]
    factories.template(api, uid, "followups", days=1)
    assert api.put(f"/v1/services/{uid}/availability", {"capacity": 2}).status_code == 200
    ns = f"fuzz-{secrets.token_hex(3)}"
    pending = factories.booking(api, service_uid=uid, bot_user_ns=ns)["id"]
    done = factories.booking(api, service_uid=uid, bot_user_ns=ns)["id"]
    assert api.post(f"/v1/bookings/{done}/complete").status_code == 200
    token = factories.customer(api, bot_user_ns=ns, ttl_seconds=86400).key
    world = SelfServiceWorld(
        api=api,
        browser=follow(api, pending, token),
        email="",
        links=[],
        forms=[],
        token=token,
        uid=uid,
        ns=ns,
        fresh={"booking_id": [str(pending)]},
    )
    start = [self_service_page(pending), self_service_page(done)]
    _crawl(world, start, routes=SELF_SERVICE_ROUTES)
    assert {f.action.rsplit("/", 1)[1] for f in world.forms if f.method == "POST"} == {
        "confirm",
        "reschedule",
        "cancel",
        "rating",
    }
    return world


@pytest.fixture
def self_service(self_service_world: SelfServiceWorld) -> SelfServiceWorld:
    """The world with a pending booking of this test's own (the previous route's examples may have
    cancelled or moved those the pages showed)."""
    world = self_service_world
    start = factories.future(days=40)
    booking = factories.booking(
        world.api, service_uid=world.uid, bot_user_ns=world.ns, start_time=start
    )
    world.fresh = {"booking_id": [str(booking["id"])]}
    return world


# Each page route with the fixture of the world its pages are driven in.
PAGE_ROUTES = [("console", m, r) for m, r in CONSOLE_ROUTES] + [
    ("self_service", m, r) for m, r in SELF_SERVICE_ROUTES
]


@pytest.mark.parametrize(
    ("world", "method", "route"),
    PAGE_ROUTES,
    ids=[f"{m} {r.path}" for _, m, r in PAGE_ROUTES],
)
@pytest.mark.soak
def test_page_route_answers_no_server_error(
    world: str, method: str, route: APIRoute, client: TestClient, request: pytest.FixtureRequest
) -> None:
    # `client` names the app (and so the database each run is on) for the world looked up by name.
    drive(request.getfixturevalue(world), method, route)


# --- coverage ------------------------------------------------------------------------------------


def test_every_route_with_parameters_is_driven() -> None:
    """A route this module does not reach would be one nobody fuzzes: every route that takes a
    parameter is an operation of the document or a console route."""
    console = {(m, r.path) for m, r in CONSOLE_ROUTES + SELF_SERVICE_ROUTES}
    documented = {(o.method, o.path) for o in OPERATIONS}
    for route in APP.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            if (method, route.path) in console | documented:
                continue
            assert not route.param_convertors and not _declared_query(route), (method, route.path)
    assert len(console) >= 30 and len(documented) >= 50
