"""The importer on a real database, fed by the real adapters talking to the simulators.

Each test connects a Store to a simulator on loopback, reads pages with the adapter, calls
``import_orders`` and commits as the sync job does; what must be imported is computed from
the simulator's own data (its ``/_sim/orders`` control API), not from what the adapter said.
A few tests feed hand-made ``RemoteOrder`` records to reach the rare paths (races, a broken
order). The threaded races run on PostgreSQL only: SQLite admits one writer at a time.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import (
    PIECE, Category, Client, Employee, FeedEntry, FeedKind, LogLevel, Order, Product, Role, RunKind, Store, SyncLogEntry, SyncRun,
)
from webapp.phones import to_e164
from webapp.platforms.cartum import ZONE_SLACK as CARTUM_ZONE_SLACK
from webapp.platforms.base import RemoteBuyer, RemoteDelivery, RemoteItem, RemoteOrder
from webapp.sync import importer, matching
from webapp.sync.importer import import_orders
from webapp.sync.platform import platform_for, rules_for

UTC = timezone.utc
CREDENTIALS = {
    "cartum": {"login": "manager", "password": "cartum-demo"},
    "shopify": {"access_token": "shpat_simulator"},
    "woocommerce": {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET},
}
IDENTIFY_BY = {"cartum": "article", "shopify": "sku", "woocommerce": "id"}
ZONES = {"cartum": "Europe/Kyiv", "shopify": "Europe/Berlin", "woocommerce": "Europe/Kyiv"}
UNMAPPED = {"cartum": "8", "shopify": "open", "woocommerce": "awaiting-shipment"}
DRAFTS = {"checkout-draft", "auto-draft", "draft"}  # never orders: the adapter leaves them out
PLATFORMS = ("cartum", "shopify", "woocommerce")


# ---------------------------------------------------------------------------------------------
# Helpers: a store on a simulator, importing, reading back
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def managers(world):
    """Two managers who may see the store's location, and two who must never get its orders."""
    first = factories.employee("mgr_one", Role.MANAGER, [world.main])
    second = factories.employee("mgr_two", Role.MANAGER, [world.main])
    factories.employee("mgr_away", Role.MANAGER, [world.branch])
    factories.employee("mgr_gone", Role.MANAGER, [world.main], active=False)
    return [first, second]


def connect(platform: str, sim, world, **fields) -> Store:
    values = {"identify_by": IDENTIFY_BY[platform], "timezone": ZONES[platform], "managers_all": True, **fields}
    store = Store(platform=platform, name=f"{platform} shop", url=sim.url if sim else "https://shop.example.com",
                  location=world.main, order_type=world.repair, **values)
    store.credentials = CREDENTIALS[platform]
    factories.add(store)
    if sim is not None:
        store.status_map = status_map(shop(store).statuses(), world, UNMAPPED[platform])
        db.session.commit()
    return store


def status_map(statuses, world, unmapped: str) -> dict:
    """Every platform status on one of our two statuses, in turn, leaving one unmapped."""
    ours = [world.new, world.progress]
    mapped = [status for status in statuses if status.id != unmapped]
    return {status.id: ours[index % 2].id for index, status in enumerate(mapped)}


def shop(store: Store):
    adapter = platform_for(store)
    adapter.RATE = "500/second"  # the shared request budget is tested with the HTTP layer
    return adapter


def new_run(store: Store, kind: RunKind = RunKind.INITIAL) -> SyncRun:
    return factories.add(SyncRun(store_id=store.id, kind=kind))


def since() -> datetime:
    return datetime.now(UTC) - timedelta(days=60)


def import_all(store: Store, initial: bool = True) -> tuple[SyncRun, list[RemoteOrder]]:
    """Read every page of the last 60 days and import it, committing page by page."""
    run, fetched = new_run(store), []
    for page in shop(store).iter_orders(created_since=since()):
        import_orders(store, run, page.orders, initial=initial)
        db.session.commit()
        fetched.extend(page.orders)
    return run, fetched


def reimport(store: Store, *external_ids: str) -> importer.PageResult:
    """Re-read orders by id (manual update, R-ORD-4) and import them."""
    result = import_orders(store, new_run(store, RunKind.MANUAL), shop(store).fetch_orders(list(external_ids)))
    db.session.commit()
    return result


def imported(store: Store) -> dict[str, Order]:
    return {o.external_id: o for o in db.session.scalars(select(Order).filter_by(store_id=store.id))}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def log_entries(store: Store, level: LogLevel = LogLevel.SKIPPED) -> list[SyncLogEntry]:
    return list(db.session.scalars(select(SyncLogEntry).filter_by(store_id=store.id, level=level)))


def delivery_notes(order: Order) -> list[str]:
    return [entry.text for entry in order.feed if entry.kind == FeedKind.DELIVERY]


# ---------------------------------------------------------------------------------------------
# What the rules select, from the simulators' own data (R-IMP-2, R-IMP-5, R-ORD-7)
# ---------------------------------------------------------------------------------------------


def selected_cartum(sim, start: datetime) -> set[str]:
    """The window starts ZONE_SLACK earlier on Cartum: its times carry no zone (see there)."""
    start -= CARTUM_ZONE_SLACK
    zone = ZoneInfo(ZONES["cartum"])
    return {str(o["order_id"]) for o in sim.control("GET", "orders")["orders"]
            if datetime.fromisoformat(o["stat_created"]).replace(tzinfo=zone) >= start
            and str(o["stat_status"]) != "3" and o["currency"] == "EUR"}


def selected_shopify(sim, start: datetime) -> set[str]:
    return {str(o["id"]) for o in sim.control("GET", "orders")
            if datetime.fromisoformat(o["created_at"]) >= start and o["currency"] == "EUR"
            and not o["cancelled_at"] and o["financial_status"] != "refunded"
            and o["fulfillment_status"] != "fulfilled"}


def selected_woocommerce(sim, start: datetime) -> set[str]:
    excluded = {"completed", "cancelled", "refunded", "failed", "trash"} | DRAFTS
    candidates = [o for o in sim.control("GET", "orders") if o["status"] not in excluded
                  and o["currency"] == "EUR"
                  and datetime.fromisoformat(o["date_created_gmt"]).replace(tzinfo=UTC) > start]
    return {str(o["id"]) for o in candidates if _woo_transferable(sim.control("GET", f"orders/{o['id']}"))}


def _woo_transferable(order: dict) -> bool:
    billing, shipping = order.get("billing") or {}, order.get("shipping") or {}
    contact = billing.get("email") or billing.get("phone") or shipping.get("phone")
    return bool(order.get("line_items")) and bool(contact)


SELECTED = {"cartum": selected_cartum, "shopify": selected_shopify, "woocommerce": selected_woocommerce}


# ---------------------------------------------------------------------------------------------
# The initial import, per platform
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_IMP_2_initial_import_takes_exactly_the_orders_the_rules_select(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        start = since()
        run, fetched = import_all(store)
        expected = SELECTED[platform](sim, start)
    orders = imported(store)
    assert set(orders) == expected and len(expected) > 50
    assert (run.fetched, run.created, run.failed) == (len(fetched), len(expected), 0)
    assert run.skipped == len(fetched) - len(expected)
    by_id = {remote.external_id: remote for remote in fetched}
    for external_id, order in orders.items():
        check_order(order, by_id[external_id], world)


def check_order(order: Order, remote: RemoteOrder, world) -> None:
    """R-ORD-4, R-ORD-6, R-PRD-7: what every imported order carries."""
    assert (order.location, order.order_type, order.currency) == (world.main, world.repair, "EUR")
    assert order.platform_number == remote.number and order.platform_created_at == remote.created_at
    assert order.created_at == remote.created_at and order.synced_at is not None
    lines = [line for line in remote.items if line.quantity > 0]
    assert [(i.quantity, i.price) for i in order.items] == [importer.line_values(line) for line in lines]
    assert not any(item.deductible for item in order.items)
    assert order.amount == sum((item.total for item in order.items), Decimal("0"))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_IMP_7_importing_again_creates_nothing_new(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        first, _ = import_all(store)
        rows = (count(Order), count(Client), count(Product), count(FeedEntry), count(SyncLogEntry))
        again, _ = import_all(store)
    assert (again.created, again.updated, again.failed) == (0, 0, 0)
    assert again.unchanged == first.created and again.skipped == first.skipped
    assert (count(Order), count(Client), count(Product), count(FeedEntry), count(SyncLogEntry)) == rows


@pytest.mark.parametrize("platform", ["cartum", "woocommerce"])
def test_R_STA_2_statuses_come_by_the_mapping_and_unmapped_ones_are_logged(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        run, fetched = import_all(store)
    orders, unmapped = imported(store), UNMAPPED[platform]
    for remote in fetched:
        if remote.external_id in orders:
            wanted = store.status_map.get(remote.status_id, world.repair.initial_status_id)
            assert orders[remote.external_id].status_id == wanted
    assert any(remote.status_id == unmapped for remote in fetched)
    notes = [e for e in log_entries(store) if f'"{unmapped}"' in e.reason]
    assert len(notes) == 1 and notes[0].run_id == run.id and "Map it in the store's settings" in notes[0].reason


def test_R_IMP_6_shopify_orders_take_the_order_type_status(app, world, managers):
    with serving("shopify", orders=200) as sim:
        store = connect("shopify", sim, world)  # even with a mapping saved, it is not used
        import_all(store)
        order = next(iter(imported(store).values()))
        sim.control("POST", f"orders/{order.external_id}/state", json={"financial_status": "paid"})
        result = reimport(store, order.external_id)
    assert {o.status_id for o in imported(store).values()} == {world.new.id}
    assert result.failed == 0 and not [e for e in order.feed if e.kind == FeedKind.STATUS]


def test_R_ORD_7_other_currency_is_skipped_and_logged(app, world, managers):
    with serving("shopify", orders=200) as sim:
        store = connect("shopify", sim, world)
        _, fetched = import_all(store)
    foreign = {r.number for r in fetched if r.currency != "EUR" and r.status_id not in {
        "fulfilled", "cancelled", "refunded"}}
    entries = log_entries(store)
    assert foreign and {e.platform_number for e in entries if "is in USD" in e.reason} == foreign
    assert all("this back office works in EUR" in e.reason for e in entries if e.platform_number in foreign)
    assert not any(o.currency != "EUR" for o in imported(store).values())


def test_R_IMP_5_woocommerce_orders_without_products_or_contact_are_skipped_and_logged(app, world, managers):
    with serving("woocommerce", orders=200) as sim:
        store = connect("woocommerce", sim, world)
        _, fetched = import_all(store)
    orders = imported(store)
    no_items = {r.external_id for r in fetched if not r.items and r.currency == "EUR"
                and r.status_id not in rules_for(store).excluded_initial_statuses}
    reasons = {e.external_id: e.reason for e in log_entries(store)}
    assert no_items and all("no products" in reasons[i] for i in no_items)
    no_contact = [r for r in fetched if r.external_id in reasons and "e-mail or phone" in reasons[r.external_id]]
    assert no_contact and all(r.buyer is None or not r.buyer.has_contact for r in no_contact)
    assert not no_items & set(orders) and not {r.external_id for r in no_contact} & set(orders)


# ---------------------------------------------------------------------------------------------
# Clients, products, categories, managers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_CLI_2_returning_buyers_are_one_client_whatever_the_phone_format(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        _, fetched = import_all(store)
    orders = imported(store)
    buyers = [r.buyer for r in fetched if r.external_id in orders and r.buyer]
    raw = {b.phone for b in buyers if b.phone}
    phones = {to_e164(b.phone, app.config["PHONE_REGION"]) for b in buyers} - {None}
    assert len(raw) > len(phones), "the simulator writes returning buyers' phones differently"
    assert count(Client, Client.phone.is_not(None)) == len(phones)
    for remote in fetched:
        if remote.external_id in orders and remote.buyer and remote.buyer.phone:
            assert orders[remote.external_id].client.phone == to_e164(remote.buyer.phone, "DE")
    emails = db.session.execute(select(Client.email, func.count()).where(Client.email.is_not(None))
                                .group_by(Client.email).having(func.count() > 1)).all()
    assert platform != "woocommerce" or emails == []  # WooCommerce matches by e-mail too


def test_R_CLI_3_shopify_keeps_the_address_and_unknown_buyers_are_not_specified(app, world, managers):
    with serving("shopify", orders=200) as sim:
        store = connect("shopify", sim, world)
        _, fetched = import_all(store)
    orders = imported(store)
    anonymous = [orders[r.external_id] for r in fetched if r.external_id in orders and r.buyer is None]
    assert anonymous and all(order.client.is_not_specified for order in anonymous)
    assert count(Client, Client.system_key.is_not(None)) == 1
    with_address = [orders[r.external_id].client for r in fetched
                    if r.external_id in orders and r.buyer and r.buyer.address]
    assert with_address and all(client.address for client in with_address)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_PRD_2_R_PRD_3_products_are_matched_by_the_identify_field_never_twice(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        _, fetched = import_all(store)
    _, field = rules_for(store).match_fields(store.identify_by)
    column = getattr(Product, field)
    twice = db.session.execute(select(column).where(column.is_not(None)).group_by(column)
                               .having(func.count() > 1)).all()
    assert twice == [] and count(Product) > 5
    assert {p.unit for p in db.session.scalars(select(Product))} == {PIECE}  # R-PRD-4
    orders = imported(store)
    for remote in fetched:
        if remote.external_id in orders:
            check_products(store, orders[remote.external_id], remote)


def check_products(store: Store, order: Order, remote: RemoteOrder) -> None:
    rules = rules_for(store)
    lines = [line for line in remote.items if line.quantity > 0]
    for item, line in zip(order.items, lines, strict=True):
        if rules.catalog_needs_sku and not line.sku:
            assert item.product is None and item.name == line.name  # R-PRD-1 (Cartum)
            continue
        if line.sku:
            assert getattr(item.product, rules.sku_field) == line.sku
        if rules.code_field and line.product_id:
            assert getattr(item.product, rules.code_field) == line.product_id


def test_R_PRD_5_R_PRD_6_woocommerce_categories_follow_the_tree_rule(app, world, managers):
    with serving("woocommerce", orders=200) as sim:
        store = connect("woocommerce", sim, world)
        import_all(store)
    category = {p.sku: p.category.name for p in db.session.scalars(select(Product)) if p.category and p.sku}
    assert category["SM-A556B"] == "Android"      # one chain: the deepest
    assert category["TP-X1-R"] == "Sale"          # different levels: the more general
    assert category["BAT-IP11"] == "Batteries"    # a ticked parent is part of the chain
    names = db.session.scalars(select(Product.category_id).where(Product.category_id.is_not(None)))
    assert len(set(names)) == count(Category)  # every category in use, none twice


def test_R_PRD_5_cartum_categories_are_reused_by_name(app, world, managers):
    factories.add(Category(name="Chargers"))
    existing = db.session.scalar(select(Category).filter_by(name="Chargers"))
    with serving("cartum", orders=200) as sim:
        store = connect("cartum", sim, world)
        import_all(store)
    chargers = [p for p in db.session.scalars(select(Product)) if "charger" in p.name.lower()]
    assert chargers and {p.category_id for p in chargers} == {existing.id}


def test_R_CON_2_new_orders_go_to_the_store_managers_in_turn(app, world, managers):
    with serving("cartum", orders=200) as sim:
        store = connect("cartum", sim, world)
        import_all(store)
    spread = Counter(o.manager_id for o in imported(store).values())
    assert set(spread) == {m.id for m in managers} and abs(spread[managers[0].id] - spread[managers[1].id]) <= 1


def test_R_CON_2_selected_managers_only_the_active_ones(app, world, managers):
    gone = db.session.scalar(select(Employee).filter_by(login="mgr_gone"))
    store = connect("cartum", None, world, managers_all=False)
    store.managers = [managers[1], gone]
    db.session.commit()
    import_orders(store, new_run(store), [made(str(n)) for n in range(3)])
    db.session.commit()
    assert {o.manager_id for o in imported(store).values()} == {managers[1].id}


# ---------------------------------------------------------------------------------------------
# Changes on the platform after import (R-IMP-4, R-DEL-2, R-STA-2)
# ---------------------------------------------------------------------------------------------


def set_quantity(platform: str, sim, remote: RemoteOrder, quantity: int) -> None:
    line = remote.items[0]
    if platform == "cartum":
        sim.control("POST", f"orders/{remote.external_id}/quantity", json={"index": 0, "quantity": quantity})
    elif platform == "shopify":
        sim.control("POST", f"orders/{remote.external_id}/line_items/{line.line_id}", json={"quantity": quantity})
    else:
        sim.control("POST", f"orders/{remote.external_id}/items/{line.line_id}", json={"quantity": quantity})


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_IMP_4_quantity_changes_sync_until_write_off(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        _, fetched = import_all(store)
        orders = imported(store)
        remote = next(r for r in fetched if r.external_id in orders and r.items[0].quantity > 0
                      and r.items[0].price > 0)
        order, before = orders[remote.external_id], remote.items[0].quantity
        set_quantity(platform, sim, remote, int(before) + 2)
        assert reimport(store, remote.external_id).updated == 1
        assert order.items[0].quantity == before + 2
        assert order.amount == sum((item.total for item in order.items), Decimal("0"))
        order.write_off(None)
        db.session.commit()
        set_quantity(platform, sim, remote, int(before) + 5)
        result = reimport(store, remote.external_id)
    assert (result.updated, result.unchanged) == (0, 1)
    assert order.items[0].quantity == before + 2 and order.items[0].deductible
    assert "not applied: the order is written off" in order.feed[0].text  # R-REL-4: not silent


@pytest.mark.parametrize("platform", ["cartum", "shopify"])
def test_R_DEL_2_changed_delivery_adds_exactly_one_comment(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        import_all(store)
        order = next(o for o in imported(store).values() if delivery_notes(o))
        path = "delivery" if platform == "cartum" else "shipping"
        sim.control("POST", f"orders/{order.external_id}/{path}", json={"price": "12.34"})
        first = reimport(store, order.external_id)
        again = reimport(store, order.external_id)
    notes = delivery_notes(order)
    assert (first.updated, again.unchanged) == (1, 1)
    assert len(notes) == 2 and "cost 12.34 EUR" in notes[0] and "cost 12.34" not in notes[1]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_DEL_1_R_DEL_3_R_DEL_4_delivery_comments_where_the_platform_transfers_them(app, world, managers, platform):
    with serving(platform, orders=200) as sim:
        store = connect(platform, sim, world)
        _, fetched = import_all(store)
    orders = imported(store)
    rules = rules_for(store)
    for remote in fetched:
        if remote.external_id not in orders:
            continue
        notes = delivery_notes(orders[remote.external_id])
        wanted = rules.delivery_transferred and remote.delivery is not None and (
            remote.delivery.is_own_method or not rules.delivery_only_own_method)
        assert len(notes) == (1 if wanted else 0)
        if wanted:
            assert notes[0].startswith(f"Delivery: {remote.delivery.method_name}, cost ")
    total = count(FeedEntry, FeedEntry.kind == FeedKind.DELIVERY)
    assert (total == 0) == (platform == "woocommerce")


def test_R_STA_2_a_status_change_on_the_platform_is_applied_and_noted(app, world, managers):
    with serving("cartum", orders=200) as sim:
        store = connect("cartum", sim, world)
        import_all(store)
        order = next(o for o in imported(store).values() if o.status_id == world.new.id)
        target = next(k for k, v in store.status_map.items() if v == world.progress.id)
        sim.control("POST", f"orders/{order.external_id}/status", json={"status": int(target)})
        result = reimport(store, order.external_id)
    notes = [e for e in order.feed if e.kind == FeedKind.STATUS]
    assert result.updated == 1 and order.status_id == world.progress.id
    assert [(n.text, n.author_id) for n in notes] == [("Status changed on Cartum: New → In progress", None)]


# ---------------------------------------------------------------------------------------------
# Hand-made records: races, failures, transactions, clients
# ---------------------------------------------------------------------------------------------

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def made(external_id: str, *, phone: str = "+49 30 1234567", email: str = "", currency: str = "EUR",
         items=None, delivery=None, first: str = "Anna") -> RemoteOrder:
    lines = items if items is not None else (RemoteItem(line_id="1", product_id="", sku="CT-1", name="Charger",
                                                        quantity="2", price="9.50"),)
    return RemoteOrder(external_id=external_id, number=external_id, created_at=NOW, updated_at=NOW,
                       status_id="1", currency=currency, items=lines, delivery=delivery,
                       buyer=RemoteBuyer(first_name=first, last_name="Schmidt", phone=phone, email=email))


def test_import_never_commits_the_caller_does(app, world):
    store = connect("cartum", None, world)
    import_orders(store, new_run(store), [made("1"), made("2")])
    db.session.rollback()
    assert (count(Order), count(Client), count(Product)) == (0, 0, 0)


def test_R_IMP_7_an_order_inserted_meanwhile_by_another_worker_is_updated(app, world, monkeypatch):
    store = connect("cartum", None, world)
    import_orders(store, new_run(store), [made("1")])
    db.session.commit()
    real, calls = importer.find_order, []

    def late_look_up(store, external_id):  # the first look-up ran before the other worker's commit
        calls.append(external_id)
        return None if len(calls) == 1 else real(store, external_id)

    monkeypatch.setattr(importer, "find_order", late_look_up)
    monkeypatch.setattr(importer, "find_orders", lambda store, external_ids: {})  # the page's look-up too
    result = import_orders(store, new_run(store), [made("1", items=(RemoteItem(
        line_id="1", product_id="", sku="CT-1", name="Charger", quantity="3", price="9.50"),))])
    db.session.commit()
    assert (result.created, result.updated, result.failed) == (0, 1, 0) and len(calls) == 2
    assert count(Order) == 1 and imported(store)["1"].items[0].quantity == 3


def test_R_CLI_2_a_client_inserted_meanwhile_by_another_worker_is_used(app, world, monkeypatch):
    store = connect("cartum", None, world)
    anna = factories.client("Anna", "Schmidt", phone="+49 30 1234567")
    monkeypatch.setattr(matching, "find_client", lambda values, keys: None)  # its row was not visible yet
    result = import_orders(store, new_run(store), [made("1", phone="030 1234567")])
    db.session.commit()
    assert result.created == 1 and imported(store)["1"].client_id == anna.id and count(Client) == 1


def test_a_failing_order_is_rolled_back_alone_logged_and_the_page_goes_on(app, world, monkeypatch):
    store = connect("cartum", None, world)
    real = matching.product_for

    def broken(line, rules, identify_by, finder=None):  # on the page's first try and order by order
        if line.sku == "BAD":
            raise ValueError("the line's price cannot be read")
        return real(line, rules, identify_by, finder)

    monkeypatch.setattr(matching, "product_for", broken)
    bad = made("2", phone="+49 30 7654321", items=(RemoteItem(line_id="1", product_id="", sku="BAD", name="X",
                                                              quantity="1", price="1"),))
    run = new_run(store)
    result = import_orders(store, run, [made("1"), bad, made("3")])
    db.session.commit()
    assert (result.created, result.failed, run.created, run.failed, run.fetched) == (2, 1, 2, 1, 3)
    assert set(imported(store)) == {"1", "3"} and count(Client) == 1  # the broken order's client went too
    [entry] = log_entries(store, LogLevel.FAILED)
    assert entry.platform_number == "2" and "the line's price cannot be read" in entry.reason


def test_R_ORD_7_a_foreign_order_touches_nothing_and_is_logged_once(app, world):
    store = connect("cartum", None, world)
    for _ in range(2):
        result = import_orders(store, new_run(store), [made("9", currency="USD")])
        db.session.commit()
        assert result.skipped == 1
    assert (count(Order), count(Client), count(Product)) == (0, 0, 0)
    [entry] = log_entries(store)
    assert entry.reason.startswith("Order #9 is in USD; this back office works in EUR")


def test_R_CLI_1_sync_fills_what_is_missing_and_keeps_an_edited_name(app, world):
    store = connect("cartum", None, world)
    edited = factories.client("Hanna", "", phone="+49 30 1234567")
    edited.name_edited = True
    db.session.commit()
    import_orders(store, new_run(store), [made("1", first="Anna", email="Anna@Example.com")])
    db.session.commit()
    assert (edited.first_name, edited.last_name, edited.email) == ("Hanna", "", "anna@example.com")


def test_R_CLI_2_woocommerce_finds_the_client_by_email_too(app, world):
    store = connect("woocommerce", None, world, status_map={"1": world.new.id})
    known = factories.client("Bo", "Berg", email="bo@example.com")
    import_orders(store, new_run(store), [made("1", phone="", email="BO@example.com")])
    db.session.commit()
    assert imported(store)["1"].client_id == known.id and count(Client) == 1


def test_R_IMP_4_lines_removed_or_of_deleted_products(app, world):
    store = connect("shopify", None, world, identify_by="id")
    gone = RemoteItem(line_id="2", product_id="", sku="OLD-1", name="Discontinued case", quantity="1", price="5")
    kept = RemoteItem(line_id="1", product_id="77", sku="S-1", name="Charger", quantity="2", price="9.50")
    import_orders(store, new_run(store), [made("1", items=(kept, gone))])
    db.session.commit()
    order = imported(store)["1"]
    assert order.items[1].product.name == "Discontinued case" and order.items[1].product.sku == "OLD-1"
    removed = RemoteItem(line_id="2", product_id="", sku="OLD-1", name="Discontinued case", quantity="0", price="5")
    result = import_orders(store, new_run(store), [made("1", items=(kept, removed))])
    db.session.commit()
    assert result.updated == 1 and [i.name for i in order.items] == ["Charger"] and order.amount == Decimal("19.00")


def test_R_DEL_2_same_delivery_is_not_repeated_and_a_change_is(app, world):
    store = connect("shopify", None, world)
    courier = RemoteDelivery(method_name="Courier", cost="5", recipient_address="Main St 1", is_own_method=True)
    for delivery in (courier, courier, None, RemoteDelivery(method_name="Courier", cost=None,
                                                           recipient_address="Main St 1", is_own_method=True)):
        import_orders(store, new_run(store), [made("1", delivery=delivery)])
        db.session.commit()
    assert delivery_notes(imported(store)["1"]) == ["Delivery: Courier, cost not calculated, to Main St 1",
                                                   "Delivery: Courier, cost 5.00 EUR, to Main St 1"]


# ---------------------------------------------------------------------------------------------
# Real concurrency (PostgreSQL): two workers at once
# ---------------------------------------------------------------------------------------------


def in_worker(app, job, errors: list) -> threading.Thread:
    def run():
        with app.app_context():
            try:
                job()
            except Exception as error:  # reported by the test, not lost in the thread
                errors.append(error)
            finally:
                db.session.remove()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def needs_postgres() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite admits one writer at a time; the race needs PostgreSQL (TEST_DATABASE_URL)")


def race(app, store_id: int, first: RemoteOrder, second: RemoteOrder) -> list:
    """The first worker imports and keeps its transaction open while the second imports."""
    first_done, errors = threading.Event(), []

    def worker(remote: RemoteOrder, hold: bool):
        store = db.session.get(Store, store_id)
        import_orders(store, new_run(store), [remote])
        if hold:  # what it created is not visible to the other worker until this commit
            first_done.set()
            threading.Event().wait(0.5)
        db.session.commit()

    threads = [in_worker(app, lambda: worker(first, True), errors)]
    first_done.wait(10)
    threads.append(in_worker(app, lambda: worker(second, False), errors))
    for thread in threads:
        thread.join(30)
    return errors


def test_R_CLI_2_two_orders_of_one_new_buyer_imported_at_once_make_one_client(app, world):
    needs_postgres()
    store = connect("cartum", None, world)
    errors = race(app, store.id, made("1", phone="+49 30 5550001"), made("2", phone="030 5550001"))
    assert errors == [] and count(Order) == 2 and count(Client) == 1


def test_R_CLI_2_two_orders_of_one_new_email_buyer_at_once_make_one_client(app, world):
    needs_postgres()
    store = connect("woocommerce", None, world)
    errors = race(app, store.id, made("1", phone="", email="new@example.com"),
                  made("2", phone="", email="NEW@example.com"))
    assert errors == [] and count(Order) == 2 and count(Client) == 1


def test_R_PRD_2_two_orders_of_one_new_product_at_once_make_one_product(app, world):
    needs_postgres()
    store = connect("cartum", None, world)
    one, two = made("1", phone="+49 30 5550001"), made("2", phone="+49 30 5550002")
    import_orders(store, new_run(store), [one, two])
    db.session.commit()
    # New orders queue on the order-number counter anyway; updates do not, so race two of those.
    added = RemoteItem(line_id="2", product_id="", sku="CT-9", name="Cable", quantity="1", price="4")
    errors = race(app, store.id, replace(one, items=(*one.items, added)), replace(two, items=(*two.items, added)))
    assert errors == [] and count(Product) == 2 and count(Product, Product.item_number == "CT-9") == 1


def test_R_IMP_7_two_workers_importing_one_page_at_once_make_each_order_once(app, world):
    needs_postgres()
    store_id = connect("cartum", None, world).id
    page = [made(str(n), phone=f"+49 30 55500{n:02d}") for n in range(20)]
    start, errors = threading.Barrier(2), []

    def worker():
        store = db.session.get(Store, store_id)
        start.wait(10)
        import_orders(store, new_run(store), page)
        db.session.commit()

    threads = [in_worker(app, worker, errors) for _ in range(2)]
    for thread in threads:
        thread.join(60)
    runs = list(db.session.scalars(select(SyncRun)))
    assert errors == [] and count(Order) == 20 and count(Client) == 20 and count(Product) == 1
    assert sum(r.created for r in runs) == 20 and sum(r.failed for r in runs) == 0
    assert sum(r.updated + r.unchanged for r in runs) == 20  # the other worker saw each one as there


def test_R_IMP_2_a_sync_leaves_old_finished_orders_out_but_follows_imported_ones(app, world):
    """Our choice: an order finished before the store was connected stays out also when a
    later sync sees it (its update falls in the sync's window); one imported earlier is
    updated, and a new order finished at once (a digital good, say) comes in (R-IMP-1)."""
    store = connect("cartum", None, world)
    delivered = next(iter(rules_for(store).excluded_initial_statuses))
    before = store.created_at - timedelta(days=3)
    old = replace(made("1"), created_at=before, status_id=delivered)
    followed = replace(made("2"), created_at=before)
    import_orders(store, new_run(store), [followed], initial=True)
    new = replace(made("3"), status_id=delivered, created_at=store.created_at + timedelta(minutes=1))
    result = import_orders(store, new_run(store, RunKind.SCHEDULED),
                           [old, replace(followed, status_id=delivered), new])
    db.session.commit()
    assert (result.skipped, result.created, result.updated + result.unchanged) == (1, 1, 1)
    assert set(imported(store)) == {"2", "3"}
