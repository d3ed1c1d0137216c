"""R-SEC-5: every route checks location access and the R-ORD-5 permission on the server
(issue 11, finding 7: three gaps).

Client visibility (our choice, what a repair shop with several locations expects): a client is
visible to an employee when the client has at least one order at one of the employee's
locations, or has no orders at all (a contact just added by hand, about to get their first
order, whose phone must stay findable so it is not added twice). A client seen at two
locations is one person: employees of either location see and may edit the contact, but the
client's page lists only the orders of their own locations. A client whose orders are all at
other locations is refused (403, saying why), also when preset on a new order; administrators
see every client. The duplicate-phone message names such a client only to those who may see it.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.integration.conftest import csrf_token, post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import (
    Client, ImportState, Notification, Order, Role, RunKind, RunState, Store, SyncRun,
)

HX = {"HX-Request": "true"}
SECRET_ERROR = "City shop's platform refused the key 'ck_live_…'"


def make_store(location, order_type, name: str, port: int) -> Store:
    return factories.add(Store(platform="woocommerce", name=name, url=f"http://127.0.0.1:{port}",
                               location=location, order_type=order_type, import_state=ImportState.DONE))


def imported_order(store: Store, buyer: Client, external_id: str) -> Order:
    return factories.order(store.location, store.order_type, buyer, store=store, shop_id=store.shop_id,
                           external_id=external_id, platform_number=external_id)


@pytest.fixture
def shops(world, redis):
    """A store at each location, an imported order from each, and a failed run of the branch's store."""
    class Shops:
        pass

    s = Shops()
    s.main_store = make_store(world.main, world.repair, "Main shop", 1)
    s.branch_store = make_store(world.branch, world.repair, "City web shop", 2)
    buyer = factories.client("Anna", "Schmidt", "+49 30 1234567")
    s.mine = imported_order(s.main_store, buyer, "101")
    s.theirs = imported_order(s.branch_store, buyer, "202")
    s.branch_run = factories.add(SyncRun(store=s.branch_store, kind=RunKind.SCHEDULED, state=RunState.FAILED,
                                         error=SECRET_ERROR))
    return s


def runs() -> int:
    return db.session.scalar(select(func.count(SyncRun.id)))


def test_R_SEC_5_update_progress_of_another_stores_run_is_a_404(client, shops):
    """Finding 7a: /orders/<his order>/update/<another store's run> showed that run's error."""
    factories.employee("erik", Role.ENGINEER, [shops.mine.location])
    sign_in(client, "erik")
    response = client.get(f"/orders/{shops.mine.id}/update/{shops.branch_run.id}", headers=HX)
    assert response.status_code == 404
    assert SECRET_ERROR not in response.get_data(as_text=True)
    assert "no such update" in response.get_data(as_text=True)


def test_R_SEC_5_update_now_needs_the_R_ORD_5_permission(client, shops):
    """Finding 7b: the bulk action skipped imported orders without the permission; the single
    "Update now" queued a sync anyway."""
    factories.employee("erik", Role.ENGINEER, [shops.mine.location], can_add_without_deduction=False)
    sign_in(client, "erik")
    before = runs()
    page = client.get(f"/orders/{shops.mine.id}").get_data(as_text=True)
    assert "From the store" in page and "Update now" not in page  # the button is not offered either
    token = csrf_token(client, f"/orders/{shops.mine.id}")
    response = client.post(f"/orders/{shops.mine.id}/update", data={"csrf_token": token}, headers=HX)
    assert response.status_code == 403
    assert "Can add products without deduction" in response.get_data(as_text=True)
    assert runs() == before


def test_R_SEC_5_update_now_still_works_with_the_permission(client, shops):
    factories.employee("trusted", Role.ENGINEER, [shops.mine.location], can_add_without_deduction=True)
    sign_in(client, "trusted")
    token = csrf_token(client, f"/orders/{shops.mine.id}")
    response = client.post(f"/orders/{shops.mine.id}/update", data={"csrf_token": token}, headers=HX)
    assert response.status_code == 200 and "Updating from the shop" in response.get_data(as_text=True)


@pytest.fixture
def clients_at(world):
    """Clients with orders at the engineer's location, at the other one only, at both, and none."""
    class People:
        pass

    p = People()
    p.mine = factories.client("Mia", "Main", "+49 30 1111111")
    p.theirs = factories.client("Theo", "Branch", "+49 30 2222222")
    p.both = factories.client("Bea", "Both", "+49 30 3333333")
    p.fresh = factories.client("Finn", "Fresh", "+49 30 4444444")
    factories.order(world.main, world.repair, p.mine)
    factories.order(world.branch, world.repair, p.theirs)
    p.both_main = factories.order(world.main, world.repair, p.both)
    p.both_branch = factories.order(world.branch, world.repair, p.both)
    factories.employee("erik", Role.ENGINEER, [world.main])
    return p


def test_R_SEC_5_clients_are_limited_to_the_employees_locations(client, clients_at):
    """Finding 7c: the list showed every client, and any client opened by URL."""
    sign_in(client, "erik")
    listing = client.get("/clients/").get_data(as_text=True)
    assert "Mia" in listing and "Bea" in listing and "Finn" in listing
    assert "Theo" not in listing
    assert "Theo" not in client.get("/clients/?q=Branch").get_data(as_text=True)
    refused = client.get(f"/clients/{clients_at.theirs.id}")
    assert refused.status_code == 403 and "Theo" not in refused.get_data(as_text=True)
    assert "locations you have no access to" in refused.get_data(as_text=True)
    assert client.get(f"/clients/{clients_at.fresh.id}").status_code == 200


def test_R_SEC_5_a_client_of_another_location_cannot_be_edited(client, clients_at):
    """Editing the name also stopped the store sync from updating it (name_edited)."""
    sign_in(client, "erik")
    assert client.get(f"/clients/{clients_at.theirs.id}/edit").status_code == 403
    response = post(client, f"/clients/{clients_at.theirs.id}/edit", {"first_name": "Hacked", "last_name": "X"},
                    page="/clients/")
    assert response.status_code == 403
    db.session.expire_all()
    theirs = db.session.get(Client, clients_at.theirs.id)
    assert theirs.first_name == "Theo" and not theirs.name_edited


def test_R_SEC_5_a_client_at_two_locations_is_shared_but_shows_only_my_orders(client, clients_at):
    sign_in(client, "erik")
    page = client.get(f"/clients/{clients_at.both.id}").get_data(as_text=True)
    assert clients_at.both_main.number in page and clients_at.both_branch.number not in page
    saved = post(client, f"/clients/{clients_at.both.id}/edit",
                 {"first_name": "Beatrice", "last_name": "Both", "phone": "+49 30 3333333"})
    assert saved.status_code == 302


def test_R_SEC_5_a_new_order_cannot_preset_a_client_of_another_location(client, clients_at):
    """Otherwise an order at my location would make any client visible to me."""
    sign_in(client, "erik")
    assert client.get(f"/orders/new?client_id={clients_at.theirs.id}").status_code == 403
    assert client.get(f"/orders/new?client_id={clients_at.mine.id}").status_code == 200


def test_R_SEC_5_a_duplicate_phone_does_not_name_a_client_i_cannot_see(client, clients_at):
    sign_in(client, "erik")
    response = post(client, "/clients/new", {"first_name": "Other", "phone": "+49 30 2222222"})
    html = response.get_data(as_text=True)
    assert "This phone number belongs to another client already" in html and "Theo" not in html


def test_R_SEC_5_the_not_specified_client_cannot_be_edited_even_by_url(client, world):
    """The page offers no Edit button for it; renaming it would rename every unnamed buyer."""
    placeholder = Client.not_specified()
    db.session.commit()
    sign_in(client, "admin")
    assert client.get(f"/clients/{placeholder.id}/edit").status_code == 409
    assert post(client, f"/clients/{placeholder.id}/edit", {"first_name": "Someone"},
                page="/clients/").status_code == 409
    db.session.expire_all()
    assert db.session.get(Client, placeholder.id).first_name == "Not specified"


def test_R_SEC_5_admins_see_every_client(client, clients_at):
    sign_in(client, "admin")
    assert "Theo" in client.get("/clients/").get_data(as_text=True)
    assert client.get(f"/clients/{clients_at.theirs.id}").status_code == 200


def test_R_SEC_5_product_page_lists_only_orders_i_may_see(client, world):
    """The product's latest orders showed other locations' order numbers and prices."""
    display = factories.product("Display")
    buyer = factories.client()
    mine = factories.order(world.main, world.repair, buyer)
    theirs = factories.order(world.branch, world.repair, buyer)
    for order in (mine, theirs):
        order.add_item("Display", Decimal(1), Decimal(10), display)
    db.session.commit()
    factories.employee("erik", Role.ENGINEER, [world.main])
    sign_in(client, "erik")
    page = client.get(f"/products/{display.id}").get_data(as_text=True)
    assert f">{mine.number}<" in page and theirs.number not in page


def test_R_SEC_5_notifications_of_a_location_no_longer_mine_are_not_listed(client, shops, world):
    """A manager told of a store's order who then lost that location sees neither it nor its count."""
    manager = factories.employee("maria", Role.MANAGER, [world.main])
    factories.add(Notification(employee_id=manager.id, order_id=shops.mine.id))
    factories.add(Notification(employee_id=manager.id, order_id=shops.theirs.id))
    sign_in(client, "maria")
    listing = client.get("/notifications/").get_data(as_text=True)
    assert shops.mine.number in listing and shops.theirs.number not in listing
    assert "1 unread" in listing
