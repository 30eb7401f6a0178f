"""A customer token never reaches another bot user's booking through the self-service page, nor
another workspace's, on both databases.

Alice holds a link of workspace A. Bob is another bot user of A; workspace B has a booking of a
bot user named as Alice is. Alice's browser, with a valid cookie and form token, tries every route
of the page on Bob's booking and on B's: each answers 404, the same page as for a booking that does
not exist, shows nothing of theirs, and changes nothing. The routes come from the page's routers
and each has its check in `CHECKS`, so a route added without one fails here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute

from bookd.selfservice.endpoints import ROUTERS
from tests import factories
from tests.checks import Checks, answers
from tests.conftest import Api
from tests.console.support import Browser
from tests.selfservice.support import link, opened, page

SECRET_NOTES = "Bob's private notes"
SECRET_LOCATION = "Bob's secret address"


@dataclass
class World:
    a: Api
    b: Api
    alice: Browser
    alice_token: str
    mine: int
    bobs: int  # pending, in A
    bobs_done: int  # completed, in A
    elsewhere: int  # B's, of a bot user named as Alice

    @property
    def others(self) -> list[int]:
        return [self.bobs, self.bobs_done, self.elsewhere]


def build_world(a: Api, make_workspace: Callable[..., Api]) -> World:
    b = make_workspace(timezone="Europe/Berlin")
    tag = secrets.token_hex(3)
    uid = factories.service(a, service_uid=f"a_{tag}", name="A's service")["service_uid"]
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    mine = factories.booking(a, service_uid=uid, bot_user_ns=alice)["id"]
    secret = {"location": SECRET_LOCATION, "notes": SECRET_NOTES}
    bobs = factories.booking(a, service_uid=uid, bot_user_ns=bob, **secret)["id"]
    bobs_done = factories.booking(a, service_uid=uid, bot_user_ns=bob, **secret)["id"]
    assert a.post(f"/v1/bookings/{bobs_done}/complete").status_code == 200
    b_uid = factories.service(b, service_uid=f"b_{tag}", name="B's service")["service_uid"]
    elsewhere = factories.booking(b, service_uid=b_uid, bot_user_ns=alice, **secret)["id"]
    browser, customer = opened(a, mine, bot_user_ns=alice)
    return World(a, b, browser, customer.key, mine, bobs, bobs_done, elsewhere)


def assert_not_theirs(response: Any) -> None:
    assert response.status_code == 404, (response.status_code, response.text[-500:])
    assert "There is no booking of yours at this address." in response.text
    for secret in (SECRET_NOTES, SECRET_LOCATION, "B&#39;s service", "A&#39;s service", "bob-"):
        assert secret not in response.text, secret


def snapshot(w: World) -> dict[str, Any]:
    """What staff see of the others' bookings: each with its reminders and log, and the events."""
    state: dict[str, Any] = {}
    for staff, booking_ids in ((w.a, [w.bobs, w.bobs_done]), (w.b, [w.elsewhere])):
        paths = [f"/v1/bookings/{i}{more}" for i in booking_ids for more in ("", "/logs")]
        paths.append("/v1/events?limit=200")
        state[str(staff.workspace_id)] = answers(staff, paths)
    return state


CHECKS: Checks[World] = Checks()


@CHECKS.covers("GET", "/my/{booking_id}")
def _the_page(w: World) -> None:
    for booking_id in w.others:
        assert_not_theirs(w.alice.get(page(booking_id)))
        assert_not_theirs(w.alice.get(page(booking_id) + "?day=2031-01-14"))
        # Its own link's token, named with another booking: the exchange leads to the same 404.
        exchanged = w.alice.get(link(booking_id, w.alice_token))
        assert exchanged.status_code == 303
        assert_not_theirs(w.alice.get(exchanged.headers["location"]))


@CHECKS.covers("POST", "/my/{booking_id}/{action}")
def _the_forms(w: World) -> None:
    form = {
        "version": "1",
        "reason": "taken over",
        "start_time": factories.future(days=60),
        "rating": "0",
    }
    for booking_id in w.others:
        for action in ("confirm", "reschedule", "cancel", "rating"):
            assert_not_theirs(w.alice.post(f"{page(booking_id)}/{action}", form))


def page_routes() -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_every_route_of_the_page_has_a_check() -> None:
    assert page_routes() == set(CHECKS)


def test_a_link_reaches_its_own_bot_users_bookings_only(
    api: Api, make_workspace: Callable[..., Api]
) -> None:
    w = build_world(api, make_workspace)
    before = snapshot(w)
    failures = CHECKS.run(w, page_routes())
    assert failures == []
    assert snapshot(w) == before
    # The same browser still acts on Alice's own booking: the refusals above were not its cookie's.
    assert w.alice.post(page(w.mine) + "/confirm", {"version": "1"}).status_code == 303
    assert api.get(f"/v1/bookings/{w.mine}").json()["status"] == "confirmed"
