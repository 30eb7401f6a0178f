"""Customer tokens: issued with the workspace's API key, shown once and stored hashed, listed without
the token, revoked one by one or a bot user's all at once; expiry and revocation take effect on the
next request, on both databases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.kit.errors import ValidationFailed
from bookd.workspaces import service as workspaces
from bookd.workspaces.models import CustomerToken
from tests import factories
from tests.conftest import Api, TestClock
from tests.factories import iso
from tests.test_isolation import assert_every_operation_refuses

T0 = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def stored(api: Api, token_id: int) -> CustomerToken:
    async def work(session: AsyncSession) -> CustomerToken:
        row = await session.scalar(select(CustomerToken).where(CustomerToken.id == token_id))
        assert row is not None
        return row

    return api.run(work)


def test_a_token_is_shown_once_and_stored_hashed(api: Api, clock: TestClock) -> None:
    clock.set(T0)
    issued = api.post("/v1/customer-tokens", {"bot_user_ns": "ada"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) == {"id", "bot_user_ns", "created_at", "expires_at", "revoked_at", "token"}
    assert body["token"].startswith("bkc_")
    assert body["bot_user_ns"] == "ada"
    assert body["created_at"] == iso(T0)
    assert body["expires_at"] == iso(T0 + timedelta(hours=1))  # the default: an hour
    assert body["revoked_at"] is None
    row = stored(api, body["id"])
    assert row.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in {str(v) for v in vars(row).values()}
    # The bot user is made on first use, as by a booking.
    assert api.get("/v1/bot-users/ada").status_code == 200

    listed = api.get("/v1/customer-tokens").json()["data"]
    assert listed == [{k: v for k, v in body.items() if k != "token"}]


@pytest.mark.parametrize(
    ("ttl_seconds", "expires_after"),
    [(60, timedelta(minutes=1)), (30 * 24 * 3600, timedelta(days=30))],
)
def test_a_token_lasts_as_long_as_asked(
    api: Api, clock: TestClock, ttl_seconds: int, expires_after: timedelta
) -> None:
    clock.set(T0)
    body = {"bot_user_ns": "ada", "ttl_seconds": ttl_seconds}
    issued = api.post("/v1/customer-tokens", body).json()
    assert issued["expires_at"] == iso(T0 + expires_after)


@pytest.mark.parametrize("ttl_seconds", [0, -1, 30 * 24 * 3600 + 1, "60", 1.5, None])
def test_a_lifetime_beyond_thirty_days_or_not_a_whole_second_is_refused(
    api: Api, ttl_seconds: object
) -> None:
    refused = api.post("/v1/customer-tokens", {"bot_user_ns": "ada", "ttl_seconds": ttl_seconds})
    assert refused.status_code == 422, refused.text
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["ttl_seconds"]
    assert api.get("/v1/customer-tokens").json()["data"] == []


def test_the_service_refuses_a_lifetime_beyond_thirty_days(api: Api) -> None:
    """`issue_customer_token` is called without HTTP too (a booking's own link): it holds the
    limit itself."""

    async def issue(session: AsyncSession) -> None:
        await workspaces.issue_customer_token(
            session, api.workspace_id, "ada", T0, ttl=timedelta(days=30, seconds=1)
        )

    with pytest.raises(ValidationFailed):
        api.run(issue)


def test_the_list_names_each_tokens_bot_user_and_pages(api: Api) -> None:
    ada = [factories.customer(api, bot_user_ns="ada").token_id for _ in range(2)]
    bob = factories.customer(api, bot_user_ns="bob").token_id
    everyone = api.get("/v1/customer-tokens").json()["data"]
    assert [(t["id"], t["bot_user_ns"]) for t in everyone] == [
        (ada[0], "ada"),
        (ada[1], "ada"),
        (bob, "bob"),
    ]
    assert all("token" not in t for t in everyone)
    adas = api.get("/v1/customer-tokens", params={"bot_user_ns": "ada"}).json()["data"]
    assert [t["id"] for t in adas] == ada
    first = api.get("/v1/customer-tokens", params={"limit": 2}).json()
    rest = api.get("/v1/customer-tokens", params={"cursor": first["next_cursor"]}).json()
    assert [t["id"] for t in first["data"] + rest["data"]] == [*ada, bob]
    assert rest["next_cursor"] is None


def test_a_revoked_token_stops_working_at_once(api: Api, clock: TestClock) -> None:
    uid = factories.service(api)["service_uid"]
    me = factories.customer(api, bot_user_ns="ada")
    booking = factories.booking(me, service_uid=uid, bot_user_ns="ada")
    assert me.get(f"/v1/bookings/{booking['id']}").status_code == 200
    clock.set(datetime.now(UTC).replace(microsecond=0))
    assert api.delete(f"/v1/customer-tokens/{me.token_id}").status_code == 204
    assert me.get(f"/v1/bookings/{booking['id']}").status_code == 401
    assert me.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "x"}).status_code == 401
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "pending"
    [listed] = api.get("/v1/customer-tokens").json()["data"]
    assert listed["revoked_at"] == iso(clock())
    # Revoking it again changes nothing; an unknown token is a 404.
    clock.advance(timedelta(minutes=5))
    assert api.delete(f"/v1/customer-tokens/{me.token_id}").status_code == 204
    assert api.get("/v1/customer-tokens").json()["data"] == [listed]
    assert api.delete(f"/v1/customer-tokens/{me.token_id + 1000}").status_code == 404


def test_revoking_a_bot_users_tokens_at_once(api: Api, clock: TestClock) -> None:
    clock.set(datetime.now(UTC).replace(microsecond=0))
    adas = [factories.customer(api, bot_user_ns="ada") for _ in range(2)]
    expired = factories.customer(api, bot_user_ns="ada", ttl_seconds=60)
    bob = factories.customer(api, bot_user_ns="bob")
    clock.advance(timedelta(minutes=2))
    answer = api.post("/v1/customer-tokens/revoke", {"bot_user_ns": "ada"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"revoked": 2}  # the expired one no longer counted
    for token in [*adas, expired]:
        assert token.get("/v1/bookings").status_code == 401
    assert bob.get("/v1/bookings").status_code == 200
    assert api.post("/v1/customer-tokens/revoke", {"bot_user_ns": "ada"}).json() == {"revoked": 0}
    unknown = api.post("/v1/customer-tokens/revoke", {"bot_user_ns": "nobody"})
    assert unknown.status_code == 404, unknown.text


def test_a_token_expires_at_its_time(api: Api, clock: TestClock) -> None:
    clock.set(T0)
    me = factories.customer(api, bot_user_ns="ada", ttl_seconds=600)
    clock.set(T0 + timedelta(seconds=599))
    assert me.get("/v1/bookings").status_code == 200
    clock.set(T0 + timedelta(seconds=600))
    refused = me.get("/v1/bookings")
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("why", ["unknown", "expired", "revoked"])
def test_a_token_that_is_not_valid_is_refused_everywhere(
    api: Api, clock: TestClock, why: str
) -> None:
    clock.set(T0)
    me = factories.customer(api, bot_user_ns="ada", ttl_seconds=60)
    token = me.key
    if why == "unknown":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif why == "expired":
        clock.set(T0 + timedelta(minutes=1))
    else:
        assert api.delete(f"/v1/customer-tokens/{me.token_id}").status_code == 204
    assert_every_operation_refuses(api.client, {"Authorization": f"Bearer {token}"})
