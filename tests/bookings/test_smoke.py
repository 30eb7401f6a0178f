from tests import factories
from tests.conftest import Api


def test_create_and_confirm(api: Api) -> None:
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], days=1)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    response = api.post(f"/v1/bookings/{booking['id']}/confirm")
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    assert [e["type"] for e in factories.events(api)] == ["BOOKING_CREATED", "BOOKING_CONFIRMED"]
