"""Issue 13, the orders table at 100,000 orders: no count of every matching order at each page
(counted up to 1,000, then "1,000+"), an index behind every filter, and the text search on
``orders.search_text``, a column the database keeps right whatever writes orders and clients,
finding exactly what the search on each column found before. bench/orders_page.py measures it."""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, insert, select, text, update

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp import order_search, paging
from webapp.extensions import db
from webapp.models import Client, Order, Role, Store
from webapp.models.types import utcnow

ROW = re.compile(r'name="order_ids" value="(\d+)"')


def shown(client, url: str, **headers) -> list[int]:
    return [int(found) for found in ROW.findall(client.get(url, headers=headers).get_data(as_text=True))]


@contextmanager
def statements():
    """The SQL the app sends meanwhile, with its parameters."""
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def many(world, client, monkeypatch, app):
    """Seven orders, three to a page, the count capped at five."""
    monkeypatch.setattr(paging, "COUNT_CAP", 5)
    app.config["ORDERS_PER_PAGE"] = 3
    buyer = factories.client("Jonas", "Weber", "0151 23456789")
    orders = [factories.order(world.main, world.repair, buyer) for _ in range(7)]
    sign_in(client, "admin")
    return orders


def test_the_count_stops_at_the_cap_and_pages_still_go_back_and_forth(client, many):
    first = client.get("/orders/").get_data(as_text=True)
    assert "Page 1 · 5+ in all" in first and "Next →" in first and "← Previous" not in first
    second = client.get("/orders/?page=2").get_data(as_text=True)
    assert "Page 2 · 5+ in all" in second and "Next →" in second and "← Previous" in second
    last = client.get("/orders/?page=3").get_data(as_text=True)  # the last page knows the total
    assert "Page 3 of 3 · 7 in all" in last and "Next →" not in last
    assert {*shown(client, "/orders/"), *shown(client, "/orders/?page=2"), *shown(client, "/orders/?page=3")} \
        == {order.id for order in many}


def test_few_matching_orders_are_counted_exactly(client, many, world, monkeypatch):
    factories.order(world.main, world.repair, factories.client("Anna", "Schmidt"), world.progress)
    assert "1 in all" in client.get(f"/orders/?status={world.progress.id}").get_data(as_text=True)
    assert "Page 1 · 5+ in all" in client.get("/orders/?q=Weber").get_data(as_text=True)
    monkeypatch.setattr(paging, "COUNT_CAP", 1000)
    assert "Page 1 of 3 · 7 in all" in client.get("/orders/?q=Weber").get_data(as_text=True)


def test_a_page_past_the_end_says_so(client, many):
    html = client.get("/orders/?page=9").get_data(as_text=True)
    assert "Page 9 is past the end of the list" in html and 'href="/orders/"' in html
    assert client.get("/orders/?page=99999999999999999999").status_code == 200


def test_no_page_counts_every_matching_order(client, many, world):
    """Every count the orders table asks for is bounded: it never reads all matching rows."""
    for url in ("/orders/", "/orders/?page=2", f"/orders/?status={world.new.id}&q=weber", "/orders/?store=office"):
        with statements() as seen:
            assert client.get(url).status_code == 200
        counts = [sql for sql, _ in seen if "count(" in sql.lower() and "FROM orders" in sql]
        assert all("LIMIT" in sql for sql in counts), (url, counts)


def test_engineers_see_and_count_only_their_locations(client, world):
    mine = [factories.order(world.main, world.repair, factories.client("Erik", "Weber")) for _ in range(2)]
    factories.order(world.branch, world.repair, factories.client("Olga", "Weber"))
    factories.employee("erik", Role.ENGINEER, locations=[world.main])
    sign_in(client, "erik")
    for url in ("/orders/", "/orders/?q=weber", f"/orders/?location={world.branch.id}&q=weber"):
        html = client.get(url).get_data(as_text=True)
        assert set(map(int, ROW.findall(html))) <= {order.id for order in mine}
    assert "2 in all" in client.get("/orders/?q=weber").get_data(as_text=True)


# --- the search column -------------------------------------------------------------------------

@pytest.fixture
def office(world, client):
    sign_in(client, "admin")
    return world


def search(client, q: str) -> set[int]:
    return set(shown(client, "/orders/?" + urlencode({"q": q})))


def test_search_finds_an_order_created_in_the_office(client, office):
    post(client, "/orders/new", {"location_id": office.main.id, "order_type_id": office.repair.id,
                                 "first_name": "Jonas", "last_name": "Weber", "email": "jonas@example.com",
                                 "phone": "0151 23456789"})
    order = db.session.scalar(select(Order))
    for q in (order.number, "jonas", "WEBER", "Jonas Weber", "jonas@example", "0151 2345 6789", "+49 151 234"):
        assert search(client, q) == {order.id}, q


def test_search_finds_orders_written_in_bulk_without_the_orm(client, office):
    """The batch importer inserts rows with one statement: the database fills the column."""
    buyer = factories.client("Olena", "Kovalenko", "+380 67 123-45-67", "olena@example.com")
    store = factories.add(Store(platform="woocommerce", name="Shop", url="https://shop.example"))
    db.session.execute(insert(Order), [
        {"number": f"W{n}", "location_id": office.main.id, "order_type_id": office.repair.id,
         "status_id": office.new.id, "client_id": buyer.id, "currency": "EUR", "created_at": utcnow(),
         "store_id": store.id, "shop_id": store.shop_id, "external_id": str(n), "platform_number": f"#70{n}"}
        for n in range(3)])
    db.session.commit()
    ids = set(db.session.scalars(select(Order.id)))
    assert search(client, "kovalenko") == ids and search(client, "380671234567") == ids
    assert search(client, "#701") == {db.session.scalar(select(Order.id).filter_by(number="W1"))}


def test_search_follows_a_client_edited_and_an_order_moved_to_another_client(client, office):
    anna = factories.client("Anna", "Schmidt", "+49 30 1234567")
    order = factories.order(office.main, office.repair, anna)
    post(client, f"/clients/{anna.id}/edit", {"first_name": "Anna", "last_name": "Becker", "phone": "+49 30 1234567"})
    assert search(client, "Schmidt") == set() and search(client, "becker") == {order.id}
    olena = factories.client("Olena", "Kovalenko", "+380 67 123-45-67")
    db.session.execute(update(Order).where(Order.id == order.id).values(client_id=olena.id))  # a merge of clients
    db.session.execute(update(Client).where(Client.id == olena.id).values(email="olena@example.com"))
    db.session.commit()
    assert search(client, "becker") == set()
    assert search(client, "olena@") == {order.id} and search(client, "067 123 45 67") == {order.id}


def test_search_finds_what_the_search_on_each_column_found(client, office):
    """Nothing across two fields, no phone by a text that is no phone number, and LIKE's own
    characters as they always worked."""
    anna = factories.client("Anna", "Schmidt", "+49 30 1234567", "anna@example.com")
    order = factories.order(office.main, office.repair, anna)
    assert search(client, f"{order.number} Anna") == set()
    assert search(client, "Schmidt anna@") == set()
    assert search(client, "493") == set()  # three digits are no phone; no other field has them
    assert search(client, "4930") == {order.id}
    assert search(client, "nna Schm") == {order.id}
    assert search(client, "%") == {order.id} and search(client, "Sch_idt") == {order.id}
    assert search(client, "Schmidt%x") == set()


@pytest.mark.parametrize("listed", [1, 2, 5000])
def test_search_finds_the_same_orders_however_many_it_finds(client, office, monkeypatch, listed):
    """Up to LISTED_MATCHES orders found are named by id; more are looked for order by order."""
    monkeypatch.setattr(order_search, "LISTED_MATCHES", listed)
    weber = factories.client("Jonas", "Weber", "0151 23456789")
    mine = {factories.order(office.main, office.repair, weber).id for _ in range(2)}
    mine.add(factories.order(office.branch, office.repair, factories.client("Eva", "Braun"), platform_number="#weber-7").id)
    factories.order(office.main, office.repair, factories.client("Anna", "Schmidt"))
    assert search(client, "weber") == mine
    assert search(client, "0151 2345") == mine - {max(mine)}
    assert set(shown(client, f"/orders/?location={office.main.id}&q=weber")) == mine - {max(mine)}


def test_the_search_columns_are_kept_by_the_database(app, office):
    """Triggers keep them, whatever writes the rows, each from its own row only (a migration that
    recreates orders or clients in SQLite's batch mode must create the table's triggers again)."""
    buyer = factories.client("Mia", "Wolf", "+49 30 7654321", "mia@example.com")
    order = factories.order(office.main, office.repair, buyer, platform_number="#1")
    assert db.session.scalar(select(Order.search_text).where(Order.id == order.id)) \
        == f"{order.number}\x1f#1\x1f\x1e"
    assert db.session.scalar(select(Client.search_text).where(Client.id == buyer.id)) \
        == "Mia Wolf\x1fmia@example.com\x1f\x1e+49307654321"
    db.session.execute(insert(Client), [{"first_name": "Ben", "last_name": "Koch", "phone_raw": "", "address": "",
                                        "name_edited": False, "created_at": utcnow()}])
    db.session.commit()
    assert db.session.scalar(select(Client.search_text).filter_by(first_name="Ben")) == "Ben Koch\x1f\x1f\x1e"


# --- the indexes -------------------------------------------------------------------------------

FILTERS = ["", "?sort=old", "?status={status}", "?location={location}", "?store={store}", "?store=office",
           "?store=integrations", "?q=weber", "?q=0151+2345", "?status={status}&store={store}&q=weber"]


@pytest.mark.parametrize("query", FILTERS)
def test_every_filter_of_the_orders_table_has_an_index(client, office, query):
    """No query of the orders page reads the whole orders table: each filter, the sort and the
    text search have an index."""
    store = factories.add(Store(platform="woocommerce", name="Shop", url="https://shop.example"))
    buyer = factories.client("Jonas", "Weber", "0151 23456789")
    for n in range(3):
        factories.order(office.main, office.repair, buyer, store_id=store.id, external_id=str(n))
    url = "/orders/" + query.format(status=office.new.id, location=office.main.id, store=store.id)
    with statements() as seen:
        assert client.get(url).status_code == 200
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.connect() as conn:
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a table of three rows is read whole otherwise
        for sql, parameters in seen:
            if "FROM orders" not in sql:
                continue
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(
                ("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql, parameters))
            full_scan = "Seq Scan on orders" if postgres else re.compile(r"SCAN orders$", re.M)
            assert (full_scan not in plan) if postgres else not full_scan.search(plan), (url, sql, plan)


def test_on_postgresql_the_text_search_has_a_trigram_index(app):
    """Migration 0008 makes ``ix_orders_search_text`` a GIN trigram index where pg_trgm can be
    created (here it can: the test database's owner may create it), and the search's LIKE uses it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no trigram index; its search reads the one search column")
    with db.engine.connect() as conn:
        definition = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_orders_search_text'"))
        assert "USING gin" in definition and "gin_trgm_ops" in definition, definition
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(
            text("EXPLAIN SELECT id FROM orders WHERE search_text ILIKE :q"), {"q": "%weber%\x1e%"}))
    assert "Bitmap Index Scan on ix_orders_search_text" in plan, plan


def test_the_orders_page_reads_while_a_sync_commits_a_page(app, client, many):
    """The orders table while an import writes (issue 13's p95 target): SQLite runs in
    write-ahead-log mode, so a writer holding the database (``BEGIN EXCLUSIVE``, as a page's
    commit does) does not hold up the page; in the default journal mode it waited the whole busy
    timeout and then failed."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite:///"):
        pytest.skip("SQLite's file lock: PostgreSQL readers never wait for a writer")
    db.session.commit()
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE orders SET currency = currency")
        response = client.get("/orders/")
        assert response.status_code == 200
        assert set(shown(client, "/orders/")) <= {order.id for order in many} and shown(client, "/orders/")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
