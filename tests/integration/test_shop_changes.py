"""Every change the shop makes to an imported order is on record (R-REL-4, R-IMP-4).

Real database, the real adapters and the simulators; orders are changed through the
simulators' ``/_sim/`` control routes, except for price changes and added lines, which no
simulator route makes: those come as hand-made ``RemoteOrder`` records.

Our choice, for the feed: a status change and a delivery change keep their own entries (their
own kinds in the feed, as before); everything else one sync changes on one order (quantities,
prices, items added or removed, the amount, the client, the shop's own total) is ONE entry,
"Changed on <platform>: Charger quantity 1 → 3; Cable removed; …". Every such entry names its
sync run. Creating an order adds no line per item. After write-off a difference is not
applied but reported once per distinct difference: "Changed on <platform>, not applied: the
order is written off — …", with one sync-log line (level NOT_APPLIED, shown as "Not applied").
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.integration.conftest import sign_in
from tests.integration.test_importer import (
    PLATFORMS, connect, count, import_all, imported, made, new_run, set_quantity, shop,
)
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import FeedEntry, FeedKind, LogLevel, Order, RunKind, Store, SyncLogEntry, SyncRun
from webapp.platforms import PLATFORMS as ADAPTERS
from webapp.platforms.base import RemoteItem, RemoteOrder
from webapp.sync.importer import import_orders


def sync_again(store: Store, *external_ids: str) -> SyncRun:
    """A manual update of these orders (R-ORD-4) as its own run; the run."""
    run = new_run(store, RunKind.MANUAL)
    import_orders(store, run, shop(store).fetch_orders(list(external_ids)))
    db.session.commit()
    return run


def shop_entries(order: Order) -> list[FeedEntry]:
    """The order's system entries, oldest first (the feed lists the newest first)."""
    query = select(FeedEntry).filter_by(order_id=order.id, kind=FeedKind.SYSTEM).order_by(FeedEntry.id)
    return list(db.session.scalars(query))


def not_applied_lines(store: Store) -> list[SyncLogEntry]:
    return [entry for entry in db.session.scalars(select(SyncLogEntry).filter_by(store_id=store.id))
            if "was not applied" in entry.reason]


def import_one_open(platform: str, sim, world) -> tuple[Store, RemoteOrder, Order]:
    """The shop imported; an order whose first line is a priced product (its quantity can
    change), as the shop sent it and as imported."""
    store = connect(platform, sim, world)
    _, fetched = import_all(store)
    orders = imported(store)
    remote = next(r for r in fetched if r.external_id in orders and r.items[0].quantity > 0
                  and r.items[0].price > 0)
    return store, remote, orders[remote.external_id]


def qty(value) -> str:
    return f"{Decimal(value).normalize():f}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_REL_4_a_quantity_change_after_write_off_is_on_record_once_and_not_applied(app, world, platform):
    with serving(platform, orders=40) as sim:
        store, remote, order = import_one_open(platform, sim, world)
        order.write_off(None)
        db.session.commit()
        kept = [(item.name, item.quantity, item.price) for item in order.items]
        amount, before = order.amount, remote.items[0].quantity
        set_quantity(platform, sim, remote, int(before) + 3)
        first = sync_again(store, remote.external_id)
        entries, lines = shop_entries(order), not_applied_lines(store)
        second = sync_again(store, remote.external_id)  # the shop reports the same quantity again
        assert (shop_entries(order), not_applied_lines(store)) == (entries, lines)
        set_quantity(platform, sim, remote, int(before) + 4)  # a new change: on record again
        third = sync_again(store, remote.external_id)

    assert [(item.name, item.quantity, item.price) for item in order.items] == kept and order.amount == amount
    name, title = kept[0][0], ADAPTERS[platform].title
    reported = entries[-1]
    assert reported.text.startswith(f"Changed on {title}, not applied: the order is written off — ")
    assert f"{name} quantity {qty(before)} → {qty(before + 3)}" in reported.text
    assert reported.run_id == first.id and reported.author_id is None
    [line] = lines
    assert (line.level, line.run_id, line.external_id) == (LogLevel.NOT_APPLIED, first.id, remote.external_id)
    assert f"{name} quantity {qty(before)} → {qty(before + 3)}" in line.reason and "by hand" in line.reason
    assert second.updated == 0 and second.unchanged == 1
    newest = shop_entries(order)[-1]
    assert newest.run_id == third.id and f"quantity {qty(before)} → {qty(before + 4)}" in newest.text
    assert len(not_applied_lines(store)) == 2


def test_R_REL_4_the_shop_coming_back_to_the_orders_items_is_said_once(app, world):
    """Our choice: when the shop's lines match the written-off order again, one entry says so;
    the same difference showing up later is then reported anew (a new change)."""
    store = connect("cartum", None, world)
    charger = made("1").items[0]
    import_orders(store, new_run(store), [made("1")])
    db.session.commit()
    order = imported(store)["1"]
    order.write_off(None)
    db.session.commit()
    three = (replace(charger, quantity=Decimal(3)),)
    for items in (three, three, made("1").items, made("1").items, three):
        import_orders(store, new_run(store, RunKind.SCHEDULED), [made("1", items=items)])
        db.session.commit()
    texts = [entry.text for entry in shop_entries(order)][1:]  # after "Products written off"
    assert texts == ["Changed on Cartum, not applied: the order is written off — Charger quantity 2 → 3.",
                     "Changed on Cartum: its items match this order again; nothing is left unapplied.",
                     "Changed on Cartum, not applied: the order is written off — Charger quantity 2 → 3."]
    assert len(not_applied_lines(store)) == 2 and [i.quantity for i in order.items] == [2]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_REL_4_an_applied_quantity_change_is_one_feed_entry_from_to_by_its_run(app, world, platform):
    with serving(platform, orders=40) as sim:
        store, remote, order = import_one_open(platform, sim, world)
        assert shop_entries(order) == []  # creating the order wrote no line per item
        name, before, amount = order.items[0].name, order.items[0].quantity, order.amount
        set_quantity(platform, sim, remote, int(before) + 2)
        run = sync_again(store, remote.external_id)
    [entry] = shop_entries(order)
    title = ADAPTERS[platform].title
    assert entry.text.startswith(f"Changed on {title}: {name} quantity {qty(before)} → {qty(before + 2)}")
    assert entry.text.endswith(f"; amount {amount:.2f} → {order.amount:.2f} EUR.")
    assert entry.run_id == run.id and order.items[0].quantity == before + 2


def test_R_REL_4_prices_and_items_added_or_removed_are_one_entry(app, world):
    store = connect("woocommerce", None, world, status_map={"1": world.new.id}, identify_by="sku")

    def line(line_id: str, sku: str, name: str, quantity: str, price: str) -> RemoteItem:
        return RemoteItem(line_id=line_id, product_id="", sku=sku, name=name, quantity=quantity, price=price)

    before = (line("1", "CT-1", "Charger", "1", "9.50"), line("2", "CB-1", "Cable", "2", "4.00"),
              line("3", "CS-1", "Case", "1", "9.50"))
    after = (line("1", "CT-1", "Charger", "3", "9.50"), line("2", "CB-1", "Cable", "0", "4.00"),
             line("3", "CS-1", "Case", "1", "8.00"), line("4", "SC-1", "Screen", "1", "20"))
    import_orders(store, new_run(store), [made("1", items=before)])
    db.session.commit()
    order = imported(store)["1"]
    assert count(FeedEntry) == 0
    run = new_run(store, RunKind.SCHEDULED)
    result = import_orders(store, run, [made("1", items=after)])
    db.session.commit()
    [entry] = order.feed
    assert result.updated == 1 and entry.run_id == run.id and entry.kind == FeedKind.SYSTEM
    assert entry.text == ("Changed on WooCommerce: Charger quantity 1 → 3; Cable removed; Case price 9.50 → 8.00; "
                          "Screen added (1 × 20.00); amount 27.00 → 56.50 EUR.")


def test_R_REL_4_status_client_and_delivery_changes_name_their_run(app, world):
    with serving("cartum", orders=40) as sim:
        store = connect("cartum", sim, world)
        import_all(store)
        order = next(o for o in imported(store).values() if o.status_id == world.new.id
                     and any(e.kind == FeedKind.DELIVERY for e in o.feed))
        target = next(k for k, v in store.status_map.items() if v == world.progress.id)
        sim.control("POST", f"orders/{order.external_id}/status", json={"status": int(target)})
        sim.control("POST", f"orders/{order.external_id}/delivery", json={"price": "12.34"})
        run = sync_again(store, order.external_id)
    status = [e for e in order.feed if e.kind == FeedKind.STATUS]
    delivery = [e for e in order.feed if e.kind == FeedKind.DELIVERY]
    assert [e.run_id for e in status] == [run.id] and "cost 12.34 EUR" in delivery[0].text
    assert delivery[0].run_id == run.id and delivery[1].run_id is not None  # the import's own run


def test_R_REL_4_a_buyer_given_later_is_named_in_the_entry(app, world):
    """Shopify's Basic plan withholds the buyer (R-CLI-3); a plan change gives it later."""
    store = connect("shopify", None, world)
    import_orders(store, new_run(store), [replace(made("1"), buyer=None)])
    db.session.commit()
    import_orders(store, new_run(store), [made("1")])
    db.session.commit()
    [entry] = imported(store)["1"].feed
    assert entry.text == "Changed on Shopify: client Not specified → Anna Schmidt."


def test_R_REL_4_the_order_page_shows_the_shops_total_beside_ours_and_why(app, client, world):
    with serving("shopify", orders=40) as sim:
        store = connect("shopify", sim, world)
        import_all(store)
        order = next(o for o in imported(store).values() if o.items and o.amount > 0
                     and any(e.kind == FeedKind.DELIVERY for e in o.feed))
        sim.control("POST", f"orders/{order.external_id}/shipping", json={"price": "12.34"})
        sync_again(store, order.external_id)
    assert order.platform_total == order.amount + Decimal("12.34")
    order_id, amount = order.id, order.amount
    sign_in(client, "admin")
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Shop's total" in page and f"{order.platform_total:.2f} EUR" in page
    assert f"{amount:.2f} EUR" in page
    assert "The shop counts 12.34 EUR more than the sum of the items here. That is the delivery cost" in page

    order.platform_total = order.amount  # the same total: one amount, no note
    db.session.commit()
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Shop's total" not in page


def test_R_REL_4_a_lower_total_is_explained_as_an_order_discount(app, client, world):
    store = connect("woocommerce", None, world, status_map={"1": world.new.id})
    import_orders(store, new_run(store), [replace(made("1"), platform_total=Decimal("15.00"))])
    db.session.commit()
    order = imported(store)["1"]
    sign_in(client, "admin")
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.amount == Decimal("19.00") and "15.00 EUR" in page
    assert "The shop counts 4.00 EUR less than the sum of the items here. It takes off a discount" in page
