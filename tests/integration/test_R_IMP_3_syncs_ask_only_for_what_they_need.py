"""A 5-minute sync (R-IMP-3) asks the shop only for what it needs (issue 13): the orders that
changed, products only for lines whose product the catalogue does not have yet, WooCommerce's
category tree only for such a product in several categories (R-PRD-6 must know how they
nest), and Cartum signs in once and exports the catalogue only for an article it does not know.

Counted on the simulators' own request log and ``/_sim/stats``, after the initial import and
10 changes on the shop; the sync runs in the foreground, as the worker would run it."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.integration.test_sync_jobs import change_quantity, connect_store, fresh, quick_budget  # noqa: F401
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Order, OrderItem, Product, RunState, Status, StatusGroup, SyncRun
from webapp.sync import jobs
from webapp.sync.enqueue import enqueue_initial_import

SHOP_ORDERS = 240
CHANGES = 10
NEW = "CT-9001"
MOST = {"shopify": 3, "woocommerce": 3, "cartum": 15}  # the targets, requests per sync


def imported_store(platform: str, sim) -> int:
    """A store whose initial import ran in the foreground; its id."""
    store = connect_store(platform, sim)
    store_id, run_id = store.id, enqueue_initial_import(store).id
    assert jobs.initial_import(store_id, run_id) == run_id
    assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED
    return store_id


def open_orders(store_id: int, count: int) -> list[Order]:
    """Open orders with a priced first line: their quantities can change on the shop."""
    closed = [group for group in StatusGroup if group.is_closed]
    query = (select(Order).join(Status, Order.status_id == Status.id)
             .where(Order.store_id == store_id, Order.written_off_at.is_(None), Status.group.not_in(closed))
             .order_by(Order.id))
    return [order for order in db.session.scalars(query) if order.items and order.items[0].price > 0][:count]


def sync_counted(sim, store_id: int) -> tuple[int, list[dict]]:
    """One sync of the store: the requests it made (``/_sim/stats``) and their log."""
    before, logged = sim.stats()["requests"], len(sim.requests())
    run_id = jobs.sync_store(store_id)
    run = fresh(SyncRun, run_id)
    assert run.state == RunState.SUCCEEDED, run.error
    return sim.stats()["requests"] - before, sim.requests()[logged:]


def paths(calls: list[dict], part: str) -> list[dict]:
    return [call for call in calls if part in call["path"]]


@pytest.mark.parametrize("platform", ["cartum", "shopify", "woocommerce"])
def test_R_IMP_3_a_sync_after_10_changes_asks_only_for_the_changed_orders(office, redis, platform):
    with serving(platform, orders=SHOP_ORDERS) as sim:
        store_id = imported_store(platform, sim)
        changed = open_orders(store_id, CHANGES)
        assert len(changed) == CHANGES
        targets = {order.id: order.external_id for order in changed}
        for external_id in targets.values():
            change_quantity(platform, sim, external_id, 7)

        requests, calls = sync_counted(sim, store_id)

        for order_id in targets:
            quantities = db.session.scalars(select(OrderItem.quantity).filter_by(order_id=order_id))
            assert Decimal(7) in list(quantities), f"the change to order {targets[order_id]} did not come in"
        assert requests == len(calls) <= MOST[platform], [call["path"] for call in calls]
        if platform == "cartum":
            assert len(paths(calls, "/api/auth")) == 1  # one sign-in per run
            assert not paths(calls, "/catalog/export")  # every article on the orders is known
        else:
            assert not paths(calls, "/products")  # every product on the orders is known


def test_R_PRD_1_a_cartum_article_not_known_is_exported_once_per_run(office, redis):
    """An order naming an article no product of ours has: one catalogue export, for it alone;
    the next sync, which has its product, exports nothing."""
    with serving("cartum", orders=SHOP_ORDERS) as sim:
        store_id = imported_store("cartum", sim)
        catalogue = sim.app.extensions["cartum_shop"].products  # a product added to the shop now
        catalogue[NEW] = {**catalogue["CT-1001"], "article": NEW, "article_for_display": NEW,
                          "title": {language: f"Lamp {language}" for language in catalogue["CT-1001"]["title"]}}
        for _ in range(2):  # two orders of it: still one export
            sim.control("POST", "orders", json={"products": [{"article": NEW, "quantity": 1}],
                                                "delivery_name": "Nina Berg", "delivery_phone": "+49 30 5550101",
                                                "currency": "EUR", "status": 1})

        _, calls = sync_counted(sim, store_id)
        exports = paths(calls, "/catalog/export")
        assert [call["json"]["expr"]["article"] for call in exports] == [[NEW]]
        assert db.session.scalar(select(Product.name).filter_by(item_number=NEW)) == "Lamp en"  # R-PRD-8

        _, calls = sync_counted(sim, store_id)
        assert not paths(calls, "/catalog/export")
