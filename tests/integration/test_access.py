"""Roles and location access are enforced on the server, not only hidden in the page."""
import pytest

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.models import Role


@pytest.fixture
def two_locations(world, client):
    buyer = factories.client("Anna", "Schmidt", "+49 30 1234567")
    mine = factories.order(world.main, world.repair, buyer)
    theirs = factories.order(world.branch, world.repair, buyer)
    factories.employee("erik", role=Role.ENGINEER, locations=[world.main])
    sign_in(client, "erik")
    return mine, theirs


def test_engineer_sees_only_the_orders_of_their_locations(client, two_locations):
    html = client.get("/orders/").get_data(as_text=True)
    assert ">A00001<" in html and ">A00002<" not in html


def test_engineer_cannot_filter_their_way_into_another_location(client, two_locations, world):
    html = client.get(f"/orders/?location={world.branch.id}").get_data(as_text=True)
    assert ">A00002<" not in html
    assert "City shop" not in html  # the location filter offers only their own locations


def test_engineer_cannot_open_another_locations_order_by_url(client, two_locations):
    response = client.get(f"/orders/{two_locations[1].id}")
    assert response.status_code == 403
    assert "a location you have no access to" in response.get_data(as_text=True)


@pytest.mark.parametrize("action,data", [
    ("comments", {"text": "hello"}), ("status", {"status_id": 1}), ("write-off", {}),
    ("items", {"product_id": 0, "name": "x", "quantity": "1", "price": "1"}),
])
def test_engineer_cannot_change_another_locations_order(client, two_locations, action, data):
    theirs = two_locations[1]
    response = post(client, f"/orders/{theirs.id}/{action}", data, page="/orders/")
    assert response.status_code == 403
    assert theirs.feed == []


def test_client_page_lists_only_visible_orders(client, two_locations):
    html = client.get(f"/clients/{two_locations[0].client_id}").get_data(as_text=True)
    assert ">A00001<" in html and ">A00002<" not in html


def test_new_order_in_a_foreign_location_is_refused(client, two_locations, world):
    response = post(client, "/orders/new", {"location_id": world.branch.id, "order_type_id": world.repair.id,
                                            "first_name": "Eve"})
    assert response.status_code == 200 and "Not a valid choice" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/settings/locations", "/settings/statuses", "/settings/order-types",
                                 "/settings/employees", "/settings/employees/new"])
def test_settings_are_for_administrators_only(client, two_locations, url):
    assert client.get(url).status_code == 403
    if url != "/settings/employees":  # the list itself takes no POST
        assert post(client, url, {"name": "x"}, page="/orders/").status_code == 403


def test_manager_without_locations_sees_no_orders(client, world):
    buyer = factories.client()
    factories.order(world.main, world.repair, buyer)
    factories.employee("lonely", role=Role.MANAGER)
    sign_in(client, "lonely")
    assert "No orders yet" in client.get("/orders/").get_data(as_text=True)


def test_admin_sees_every_location(client, two_locations):
    other = client.application.test_client()
    sign_in(other, "admin")
    html = other.get("/orders/").get_data(as_text=True)
    assert ">A00001<" in html and ">A00002<" in html
