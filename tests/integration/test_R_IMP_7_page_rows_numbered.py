"""A page's new rows go in one plain INSERT per table, without RETURNING, on SQLite and on
PostgreSQL alike (issue 13): orders and feed entries numbered before the page's one flush, new
orders' items after it, by the database; every table's ids in the order the importer read the
rows. And the initial import reads nothing for the finished orders it leaves out (R-IMP-2). Counted with SQLAlchemy's statement events on the real database, never timed."""
from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import select

from tests.integration.test_batch_importer import order, statements
from tests.integration.test_importer import connect, new_run
from webapp.extensions import db
from webapp.models import FeedEntry, Order, OrderItem
from webapp.platforms.cartum import mapping
from webapp.sync.importer import import_orders


def test_R_IMP_7_a_pages_new_rows_are_inserted_in_one_statement_each_without_returning(app, world):
    """One INSERT each for orders, items and feed entries, none reading ids back (the orders' and
    entries' carry them); the ids follow the order the importer read the rows in (items and the
    feed are shown by id)."""
    store = connect("cartum", None, world)
    with statements() as seen:
        result = import_orders(store, new_run(store), [order(n) for n in range(30)])
    db.session.commit()
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO")
               and s.split()[2] in ("orders", "order_items", "feed_entries")]
    assert result.created == 30 and len(inserts) == 3, inserts
    assert not any("RETURNING" in s.upper() for s in inserts), inserts
    assert all("(id," in s.replace(" ", "") for s in inserts if s.split()[2] != "order_items"), inserts
    orders = list(db.session.scalars(select(Order).order_by(Order.id)))
    assert [o.external_id for o in orders] == [str(n) for n in range(30)]
    items = list(db.session.scalars(select(OrderItem).order_by(OrderItem.id)))
    assert [i.order_id for i in items] == [o.id for o in orders for _ in range(2)]
    feed = list(db.session.scalars(select(FeedEntry.order_id).order_by(FeedEntry.id)))
    assert feed == [o.id for o in orders]


def test_R_IMP_2_the_initial_import_reads_no_products_or_clients_for_finished_orders(app, world):
    """A page of finished orders at the initial import: all left out, and not one product or
    client is looked up or created for them."""
    store = connect("cartum", None, world)
    finished = [replace(order(n), status_id=mapping.DELIVERED) for n in range(10)]
    with statements() as seen:
        result = import_orders(store, new_run(store), finished, initial=True)
    db.session.commit()
    looked_up = [s for s in seen if re.search(r"\bFROM (products|clients|categories)\b", s)]
    assert result.skipped == 10 and looked_up == [], looked_up
