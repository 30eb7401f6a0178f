"""Where webhooks may go (docs/webhooks.md): http(s) only, no private, loopback, link-local or
reserved address unless allowed; checked when a trigger is made or moved, and again as every
attempt's connection opens, on the address connected to."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bookd.config import Settings
from bookd.webhooks import client
from bookd.webhooks.guard import Guard, UnsafeURL
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import Hooks, deliver_all

PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://224.0.0.1/",  # multicast
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::ffff:169.254.169.254]/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/",  # ... in octal
    "http://localhost/",  # a name that resolves to loopback
    "http://LOCALHOST:9000/x",
]
SCHEME = "only http and https URLs are allowed"
CREDENTIALS = "credentials in the URL are not allowed; use the signature to authenticate"
# Refused whatever the addresses: (URL, the guard's reason).
NOT_HTTP = [
    ("file:///etc/passwd", SCHEME),
    ("ftp://example.com/file", SCHEME),
    ("gopher://example.com/", SCHEME),
    ("javascript:alert(1)", SCHEME),
    ("http:///no-host", "the URL has no host"),
    ("http://user:secret@93.184.215.14/", CREDENTIALS),
]
# The API's refusal of each on `url`: (code, message). Its URL type refuses other schemes itself,
# and reads `http:///no-host` as `http://no-host/`, which the guard then finds unresolvable.
API_SCHEME = ("url_scheme", "URL scheme should be 'http' or 'https'")
NOT_HTTP_BY_THE_API = {
    "file:///etc/passwd": API_SCHEME,
    "ftp://example.com/file": API_SCHEME,
    "gopher://example.com/": API_SCHEME,
    "javascript:alert(1)": API_SCHEME,
    "http:///no-host": ("unsafe_url", "the host 'no-host' does not resolve"),
    "http://user:secret@93.184.215.14/": ("unsafe_url", CREDENTIALS),
}
PUBLIC = ["http://93.184.215.14/hook", "https://8.8.8.8:8443/", "https://[2606:4700:4700::1111]/"]
# IPv6 addresses that lead to an IPv4 one are judged by it: (URL, allowed).
EMBEDDED = [
    ("http://[64:ff9b::7f00:1]/", False),  # NAT64 well-known prefix, 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", False),  # ... 169.254.169.254
    ("http://[64:ff9b::5db8:d70e]/", True),  # ... 93.184.215.14
    ("http://[64:ff9b:1::a00:1]/", False),  # NAT64 local-use prefix, 10.0.0.1
    ("http://[64:ff9b:1::808:808]/", True),  # ... 8.8.8.8
    ("http://[2002:a9fe:a9fe::]/", False),  # 6to4, 169.254.169.254
    ("http://[2002:7f00:1::1]:8080/", False),  # ... 127.0.0.1
    ("http://[2002:c0a8:101::]/", False),  # ... 192.168.1.1
    ("http://[2002:808:808::1]/", True),  # ... 8.8.8.8
    ("http://[::127.0.0.1]/", False),  # IPv4-compatible, 127.0.0.1
    ("http://[::a9fe:a9fe]/", False),  # ... 169.254.169.254
    ("http://[::8.8.8.8]/", True),
    ("http://[::ffff:10.0.0.1]/", False),  # IPv4-mapped
    ("http://[::ffff:8.8.8.8]/", True),
    ("http://[::ffff:0:7f00:1]/", False),  # IPv4-translated, 127.0.0.1
    ("http://[::ffff:0:808:808]/", True),
    # Teredo: server 8.8.8.8 in bits 32-63, client the last 32 bits inverted.
    ("http://[2001:0:808:808::80ff:fffe]/", False),  # client 127.0.0.1
    ("http://[2001:0:7f00:1::f7f7:f7f7]/", False),  # server 127.0.0.1
    ("http://[2001:0:808:808::a201:2af1]/", True),  # client 93.254.213.14
]


async def refused(guard: Guard, url: str) -> str:
    with pytest.raises(UnsafeURL) as info:
        await guard.check(url)
    return str(info.value)


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_addresses_are_refused_by_default(url: str) -> None:
    message = await refused(Guard(), url)
    assert "resolves to" in message and "BOOKD_WEBHOOK_ALLOW_PRIVATE" in message


@pytest.mark.parametrize(("url", "reason"), NOT_HTTP, ids=[url for url, _reason in NOT_HTTP])
async def test_other_schemes_and_credentials_are_refused_even_when_private_is_allowed(
    url: str, reason: str
) -> None:
    for guard in (Guard(), Guard(allow_private=True)):
        assert await refused(guard, url) == reason


@pytest.mark.parametrize("url", PUBLIC)
async def test_public_addresses_are_allowed(url: str) -> None:
    await Guard().check(url)


@pytest.mark.parametrize(("url", "allowed"), EMBEDDED)
async def test_an_embedded_ipv4_address_decides(url: str, allowed: bool) -> None:
    if allowed:
        await Guard().check(url)
    else:
        assert "resolves to" in await refused(Guard(), url)


@pytest.mark.parametrize(("url", "allowed"), EMBEDDED)
async def test_the_webhook_client_judges_embedded_addresses_alike(url: str, allowed: bool) -> None:
    # The address as written (checked before aiohttp connects to it without a lookup) and as
    # resolved (the resolver a name goes through).
    resolver = client.GuardedResolver(Guard())
    host, port = Guard().split(url)
    if allowed:
        resolver.admit(url)
        [result] = await resolver.resolve(host, port)
        assert result["family"] == socket.AF_INET6
    else:
        with pytest.raises(UnsafeURL, match="a private, loopback or reserved address"):
            resolver.admit(url)
        with pytest.raises(UnsafeURL, match="resolves to"):
            await resolver.resolve(host, port)
        assert resolver.handed_out == set()


def guard_of(settings: Settings) -> Guard:
    """The guard the worker and the API build from these settings."""
    return Guard.from_setting(settings.webhook_allow_private, settings.webhook_allow_hosts)


async def test_allow_private_allows_every_address() -> None:
    guard = guard_of(Settings(webhook_allow_private=True))
    for url in PRIVATE:
        await guard.check(url)


async def test_an_allow_list_allows_its_hosts_and_networks_only() -> None:
    guard = guard_of(Settings(webhook_allow_hosts="localhost, 10.1.0.0/16,fd00::/8"))
    for url in ("http://localhost:8000/", "http://10.1.2.3/", "http://[fd00::1]/"):
        await guard.check(url)
    # An allowed IPv4 network allows its addresses however an IPv6 address carries them.
    for url in ("http://[::ffff:10.1.2.3]/", "http://[64:ff9b::a01:203]/"):
        await guard.check(url)
    # Not the same address by another name, nor a neighbouring network.
    for url in (
        "http://127.0.0.1:8000/",
        "http://10.2.0.1/",
        "http://169.254.169.254/",
        "http://[2002:a02:1::]/",
    ):
        assert "resolves to" in await refused(guard, url)


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOKD_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.delenv("BOOKD_WEBHOOK_ALLOW_HOSTS", raising=False)
    assert guard_of(Settings.from_env()) == Guard()
    monkeypatch.setenv("BOOKD_WEBHOOK_ALLOW_PRIVATE", "true")
    assert guard_of(Settings.from_env()).allow_private
    monkeypatch.setenv("BOOKD_WEBHOOK_ALLOW_PRIVATE", "false")
    monkeypatch.setenv("BOOKD_WEBHOOK_ALLOW_HOSTS", "hooks.internal,10.1.0.0/16")
    guard = guard_of(Settings.from_env())
    assert not guard.allow_private
    assert guard.allowed_hosts == frozenset({"hooks.internal"})
    assert [str(n) for n in guard.allowed_networks] == ["10.1.0.0/16"]


@pytest.fixture
def tighten(client: TestClient) -> Iterator[Callable[..., None]]:
    """Swap the session app's settings (which allow private targets) for stricter ones: private
    targets refused unless `fields` say otherwise. The original ones come back after the test."""
    app: Any = client.app
    original: Settings = app.state.settings

    def change(**fields: Any) -> None:
        app.state.settings = original.replace(**{"webhook_allow_private": False, **fields})

    change()
    yield change
    app.state.settings = original


def test_trigger_creation_refuses_unsafe_urls_with_a_422_on_url(
    api: Api, tighten: Callable[..., None]
) -> None:
    for url in PRIVATE:
        response = api.post("/v1/triggers", {"name": "x", "url": url})
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error", url
        [detail] = error["details"]
        assert (detail["field"], detail["code"]) == ("url", "unsafe_url"), (url, error)
        assert "resolves to" in detail["message"], (url, error)
        assert "BOOKD_WEBHOOK_ALLOW_PRIVATE" in detail["message"], (url, error)
    assert NOT_HTTP_BY_THE_API.keys() == {url for url, _reason in NOT_HTTP}
    for url, (code, message) in NOT_HTTP_BY_THE_API.items():
        response = api.post("/v1/triggers", {"name": "x", "url": url})
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error", url
        assert error["details"] == [{"field": "url", "code": code, "message": message}], url
    assert api.get("/v1/triggers").json()["data"] == []


def test_trigger_creation_judges_embedded_ipv4_addresses(
    api: Api, tighten: Callable[..., None]
) -> None:
    for url, allowed in EMBEDDED:
        body = {"name": "x", "url": url, "status": "paused"}
        response = api.post("/v1/triggers", body)
        if allowed:
            assert response.status_code == 201, (url, response.text)
            assert api.delete(f"/v1/triggers/{response.json()['id']}").status_code == 204
        else:
            assert response.status_code == 422, (url, response.text)
            error = response.json()["error"]
            [detail] = error["details"]
            assert (detail["field"], detail["code"]) == ("url", "unsafe_url"), (url, error)
            assert "resolves to" in detail["message"], (url, error)
    assert api.get("/v1/triggers").json()["data"] == []


def test_changing_the_url_is_checked_too(
    api: Api, tighten: Callable[..., None], hooks: Hooks
) -> None:
    tighten(webhook_allow_hosts="127.0.0.1")
    trigger = hooks.add("moving")
    response = api.patch(
        f"/v1/triggers/{trigger['id']}", {"url": "http://169.254.169.254/latest/meta-data/"}
    )
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert (detail["field"], detail["code"]) == ("url", "unsafe_url")
    assert detail["message"].startswith("169.254.169.254 resolves to 169.254.169.254")
    assert hooks.get("moving")["url"] == trigger["url"]


def test_allowed_by_the_allow_list_or_allow_private(
    api: Api, tighten: Callable[..., None], receiver: Receiver
) -> None:
    by_name = receiver.url_for("named").replace("127.0.0.1", "localhost")
    assert api.post("/v1/triggers", {"name": "x", "url": by_name}).status_code == 422
    tighten(webhook_allow_hosts="localhost")
    assert api.post("/v1/triggers", {"name": "x", "url": by_name}).status_code == 201
    tighten(webhook_allow_hosts="127.0.0.0/8")
    loopback = receiver.url_for("network")
    assert api.post("/v1/triggers", {"name": "x", "url": loopback}).status_code == 201
    assert api.post("/v1/triggers", {"name": "x", "url": by_name}).status_code == 201
    tighten(webhook_allow_private=True)
    meta = "http://169.254.169.254/latest/meta-data/"
    created = api.post("/v1/triggers", {"name": "x", "url": meta, "status": "paused"})
    assert created.status_code == 201
    for trigger in api.get("/v1/triggers").json()["data"]:
        assert api.delete(f"/v1/triggers/{trigger['id']}").status_code == 204


def test_the_guard_is_asked_again_before_every_attempt(
    api: Api,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    hooks: Hooks,
    receiver: Receiver,
) -> None:
    # Made while private targets are allowed (the session app's settings) ...
    now = datetime.now(UTC).replace(microsecond=0)
    clock.set(now)
    hooks.add("later-refused")
    svc = factories.service(api)
    factories.booking(api, service_uid=svc["service_uid"])
    # ... sent by a worker whose guard no longer allows them.
    strict = worker.settings.replace(webhook_allow_private=False)
    app: Any = client.app
    deliver_all(client, Worker(app.state.db, strict, clock=clock), now)
    assert receiver.at("later-refused") == []
    [delivery] = hooks.deliveries("later-refused")
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] is None and not attempt["succeeded"]
    assert attempt["response"].startswith("refused:") and "127.0.0.1" in attempt["response"]
    assert "127.0.0.1" in delivery["last_error"]

    # The same delivery, once allowed again, goes out.
    deliver_all(client, worker, now + timedelta(minutes=1))
    assert len(receiver.at("later-refused")) == 1
    assert [d["status"] for d in hooks.deliveries("later-refused")] == ["succeeded"]


async def test_the_check_is_made_on_the_connection_itself(receiver: Receiver) -> None:
    # Whatever was checked before, a request through the webhook client opens its connection
    # only to an address the guard allows, resolved once: a second lookup that answers with a
    # private address (DNS rebinding) has nothing to slip past.
    url = receiver.url_for("rebinding").replace("127.0.0.1", "localhost")
    body, headers = b"{}", {"content-type": "application/json"}
    deadline = timedelta(seconds=5)
    strict, strict_resolver = client.new_session(Guard())
    async with strict:
        answer = await client.post(strict, strict_resolver, url, body, headers, deadline=deadline)
        assert answer.status_code is None and answer.response is not None
        assert answer.response.startswith("refused:") and "resolves to" in answer.response
        # An address written into the URL never reaches the resolver: checked all the same.
        literal = receiver.url_for("rebinding")
        answer = await client.post(
            strict, strict_resolver, literal, body, headers, deadline=deadline
        )
        assert answer.response is not None and answer.response.startswith("refused:")
    assert receiver.at("rebinding") == []
    allowed = Guard(allowed_hosts=frozenset({"localhost"}))
    lenient, lenient_resolver = client.new_session(allowed)
    async with lenient:
        answer = await client.post(lenient, lenient_resolver, url, body, headers, deadline=deadline)
        assert answer.status_code == 200
    assert len(receiver.at("rebinding")) == 1


def test_a_connection_opens_only_to_an_address_the_resolver_handed_out() -> None:
    # The socket factory is the last check, made for the very address being connected: one the
    # resolver did not hand out (however the connection came to be asked for) gets no socket.
    resolver = client.GuardedResolver(Guard(allow_private=True))
    with pytest.raises(UnsafeURL, match=r"10\.1\.2\.3"):
        resolver.socket_for((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80)))
    resolver.handed_out.add("10.1.2.3")
    resolver.socket_for((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))).close()
