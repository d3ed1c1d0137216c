"""Imported orders in daily work: the Store column (R-ORD-2), the four extra fields and the
update button (R-ORD-4), the bulk update (R-ORD-3), the 10-minute limit, and read-only
imported orders without the permission (R-ORD-5). Real app, database, Redis, RQ worker and
simulators; the browser journeys are in e2e/test_imported_orders.py."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from flask import g
from sqlalchemy import select

from tests.integration.conftest import csrf_token, post, sign_in
from tests.integration.test_sync_jobs import change_quantity, fresh, imported, open_order, work
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Order, Role, Store

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def people(office):
    factories.employee("clerk", Role.MANAGER, [office.main], can_add_without_deduction=False)
    factories.employee("trusted", Role.MANAGER, [office.main], can_add_without_deduction=True)


def run_jobs() -> None:
    work()
    g.pop("_login_user", None)  # the job removed the session the signed-in employee lived in


def test_R_ORD_4_update_button_syncs_the_order_and_refuses_a_second_press(client, office, redis):
    with serving("woocommerce", orders=40) as sim:
        store_id = imported("woocommerce", sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        sign_in(client, "trusted")
        page = client.get(f"/orders/{order_id}").get_data(as_text=True)
        assert "From the store" in page and external_id in page and "Update now" in page
        change_quantity("woocommerce", sim, external_id, 6)

        token = csrf_token(client, f"/orders/{order_id}")
        pressed = client.post(f"/orders/{order_id}/update", data={"csrf_token": token}, headers=HX)
        html = pressed.get_data(as_text=True)
        poll = re.search(r'hx-get="(/orders/\d+/update/\d+)"', html).group(1)
        assert "Updating from the shop" in html and 'hx-trigger="every 1s"' in html
        run_jobs()
        done = client.get(poll, headers=HX)
        assert done.status_code == 286 and done.headers["HX-Retarget"] == "#order"
        assert "Updated from the shop just now" in done.get_data(as_text=True)
        assert Decimal(6) in [item.quantity for item in fresh(Order, order_id).items]

        again = client.post(f"/orders/{order_id}/update", data={"csrf_token": token}, headers=HX)
        assert re.search(r"updated less than 10 minutes ago\. You can update it again in \d+ min \d+ s",
                         again.get_data(as_text=True))


def test_R_REL_4_update_button_on_a_written_off_order_says_the_changes_were_not_applied(client, office, redis):
    """After write-off the button still reads the order, but it must not say "Updated": the
    shop's change was recorded, not applied (R-IMP-4)."""
    with serving("woocommerce", orders=40) as sim:
        order = open_order(imported("woocommerce", sim))
        order_id, external_id = order.id, order.external_id
        order.write_off(None)
        db.session.commit()
        change_quantity("woocommerce", sim, external_id, 6)
        sign_in(client, "trusted")
        token = csrf_token(client, f"/orders/{order_id}")
        pressed = client.post(f"/orders/{order_id}/update", data={"csrf_token": token}, headers=HX)
        poll = re.search(r'hx-get="(/orders/\d+/update/\d+)"', pressed.get_data(as_text=True)).group(1)
        run_jobs()
        html = client.get(poll, headers=HX).get_data(as_text=True)
        assert "Updated from the shop just now" not in html
        assert "its changes were not applied because the order is written off" in html
        assert Decimal(6) not in [item.quantity for item in fresh(Order, order_id).items]


def test_R_ORD_3_bulk_update_reports_queued_and_waiting_orders(client, office, redis):
    local = factories.order(office.main, office.repair, factories.client()).id
    with serving("cartum", orders=60) as sim:
        store_id = imported("cartum", sim)
        ids = list(db.session.scalars(select(Order.id).where(Order.store_id == store_id).order_by(Order.id).limit(4)))
        sign_in(client, "trusted")
        first = post(client, "/orders/update", {"order_ids": ids[:2], "next": "/orders/?store=integrations"},
                     page="/orders/")
        assert first.status_code == 302 and first.headers["Location"].endswith("/orders/?store=integrations")
        second = post(client, "/orders/update", {"order_ids": [*ids, local]}, page="/orders/", follow_redirects=True)
        text = second.get_data(as_text=True)
    assert "2 orders queued for update" in text
    assert re.search(r"2 updated less than 10 minutes ago, not queued \(all can be updated again in \d+ min \d+ s\)",
                     text)
    assert "1 created here, with no store to update from" in text


def test_R_ORD_5_without_the_permission_imported_orders_are_read_only(client, office, redis):
    store = factories.add(Store(platform="woocommerce", name="Read-only shop", url="https://ro.example"))
    order = factories.order(office.main, office.repair, factories.client(), store_id=store.id, external_id="501")
    own = factories.order(office.main, office.repair, factories.client())
    sign_in(client, "clerk")
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Read-only: this order came from Read-only shop" in page
    assert "Change status" not in page and "Add comment" not in page and "Add a product" not in page
    token = csrf_token(client, f"/orders/{own.id}")
    for path, data in (("status", {"status_id": office.progress.id}), ("comments", {"text": "hi"}),
                       ("items", {"name": "x", "quantity": "1", "price": "1"}), ("write-off", {})):
        refused = client.post(f"/orders/{order.id}/{path}", data={**data, "csrf_token": token})
        assert refused.status_code == 403, path
        assert "Can add products without deduction" in refused.get_data(as_text=True)
    assert client.post(f"/orders/{own.id}/comments", data={"text": "mine", "csrf_token": token}).status_code == 302
    db.session.refresh(order)
    assert order.status_id == office.new.id and not order.feed


def test_R_ORD_2_the_store_column_links_to_the_shops_orders_page(client, office, redis):
    store = factories.add(Store(platform="woocommerce", name="Linked shop", url="https://linked.example/shop"))
    factories.order(office.main, office.repair, factories.client(), store_id=store.id, external_id="9")
    sign_in(client, "admin")
    html = client.get("/orders/").get_data(as_text=True)
    assert re.search(r'<a class="store-link" href="https://linked.example/shop/wp-admin/edit.php\?post_type=shop_order" '
                     r'target="_blank" rel="noopener"[^>]*>Linked shop</a>', html)
