"""The batch importer (issue 13): a page of orders is a handful of statements whatever its size,
written in one savepoint; the careful order-by-order path is taken only when the page fails, and
gives the same rows. Counted with SQLAlchemy's statement events on the real database, never timed."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import event, func, select

from tests.integration.test_importer import connect, count, imported, new_run
from webapp.extensions import db
from webapp.models import Client, FeedEntry, FeedKind, Order, OrderItem, Product
from webapp.platforms.base import RemoteBuyer, RemoteDelivery, RemoteItem, RemoteOrder
from webapp.sync import importer
from webapp.sync.importer import import_orders

NOW = datetime.now(timezone.utc)


def order(number: int, *, quantity: str = "1") -> RemoteOrder:
    """Order ``number`` of a shop with 7 products and 40 buyers: products and clients repeat."""
    lines = (RemoteItem(line_id="1", product_id="", sku=f"SKU-{number % 7}", name=f"Part {number % 7}",
                        quantity=quantity, price="9.50", category_path=("Parts",)),
             RemoteItem(line_id="2", product_id="", sku="CABLE", name="Cable", quantity="2", price="3.00"))
    buyer = RemoteBuyer(first_name="Buyer", last_name=str(number % 40), phone=f"+49 30 5550{number % 40:03d}")
    delivery = RemoteDelivery(method_name="Courier", cost=Decimal("5.00"), recipient_address="Berlin",
                              is_own_method=True)
    return RemoteOrder(external_id=str(number), number=str(number), created_at=NOW, updated_at=NOW, status_id="1",
                       currency="EUR", items=lines, buyer=buyer, delivery=delivery)


@contextmanager
def statements():
    seen: list[str] = []

    def count_it(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_it)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count_it)


def import_page(store, orders) -> tuple[importer.PageResult, int]:
    with statements() as seen:
        result = import_orders(store, new_run(store), orders)
    db.session.commit()
    return result, len(seen)


def test_R_IMP_7_a_page_costs_the_same_few_statements_for_20_or_100_orders(app, world):
    """New orders, then the same orders changed: the statements a page takes do not grow with its
    size (bulk inserts and updates; look-ups once per page). 20 orders and 100 orders cost the
    same within a few statements (SQLAlchemy may split a bulk insert), and far fewer than one per
    order, where the order-by-order importer took about 21."""
    store = connect("cartum", None, world)
    small, small_count = import_page(store, [order(n) for n in range(20)])
    large, large_count = import_page(store, [order(n) for n in range(20, 120)])
    assert (small.created, large.created) == (20, 100)
    assert large_count <= small_count + 6 and large_count < 40, (small_count, large_count)
    changed, changed_count = import_page(store, [order(n, quantity="3") for n in range(20, 120)])
    assert changed.updated == 100 and changed_count < 40, changed_count
    assert count(Order) == 120 and count(Product) == 8 and count(Client) == 40
    numbers = sorted(db.session.scalars(select(Order.number)))
    assert numbers == [f"A{value:05d}" for value in range(1, 121)]  # one block, no gaps, no repeats


def test_R_IMP_7_a_failing_page_is_written_order_by_order_with_the_same_rows(app, world, monkeypatch):
    """One broken order fails the page's single flush; the page then goes order by order: the
    broken one is left out and logged, the others are the rows the batch would have written."""
    store = connect("cartum", None, world)
    real = importer._create

    def create(page, remote):
        if remote.external_id == "5":
            raise RuntimeError("order 5 cannot be read")
        return real(page, remote)

    monkeypatch.setattr(importer, "_create", create)
    result, _ = import_page(store, [order(n) for n in range(10)])
    assert (result.created, result.failed) == (9, 1)
    rows = imported(store)
    assert set(rows) == {str(n) for n in range(10)} - {"5"}
    assert all(len(o.items) == 2 and o.amount == Decimal("15.50") for o in rows.values())
    deliveries = db.session.scalar(select(func.count()).select_from(FeedEntry).where(FeedEntry.kind == FeedKind.DELIVERY))
    assert deliveries == 9 and count(OrderItem) == 18


def test_R_DEL_2_a_page_posts_a_delivery_comment_only_when_it_changed(app, world):
    """The batch reads each order's latest delivery comment once per page (R-DEL-2 holds)."""
    store = connect("cartum", None, world)
    import_page(store, [order(n) for n in range(5)])
    import_page(store, [order(n, quantity="2") for n in range(5)])
    comments = db.session.scalar(select(func.count()).select_from(FeedEntry).where(FeedEntry.kind == FeedKind.DELIVERY))
    assert comments == 5


def test_R_IMP_7_an_order_listed_twice_in_a_page_is_one_order(app, world):
    store = connect("cartum", None, world)
    result, _ = import_page(store, [order(1), order(2), order(1, quantity="4")])
    assert result.created == 2 and count(Order) == 2
    assert imported(store)["1"].items[0].quantity == 4
