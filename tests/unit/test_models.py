"""Pure model logic: money totals in Decimal, UTC times, write-off rules (no database needed)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from webapp.models import Order, OrderItem, Product, Status, StatusGroup
from webapp.models.orders import OrderLocked
from webapp.models.types import UTCDateTime


def test_item_total_is_exact_decimal():
    item = OrderItem(name="x", quantity=Decimal("3"), price=Decimal("0.10"))
    assert item.total == Decimal("0.30")


def test_utc_datetime_refuses_naive_and_converts_offsets():
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), None)
    kyiv = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    stored = column.process_bind_param(kyiv, None)
    assert stored == datetime(2026, 1, 1, 10) and stored.tzinfo is None
    assert column.process_result_value(stored, None).tzinfo is timezone.utc


def _order() -> Order:
    order = Order(number="A1", currency="EUR", status=Status(id=1, name="New", group=StatusGroup.NEW), status_id=1)
    order.items = []
    order.feed = []
    return order


def test_write_off_deducts_only_items_not_yet_deducted():
    order = _order()
    reserved = Product(name="Display", stock=Decimal("2"))
    taken = Product(name="Glass", stock=Decimal("5"))
    order.add_item("Display", Decimal("3"), Decimal("10"), reserved)
    order.add_item("Glass", Decimal("1"), Decimal("5"), taken, deductible=True)
    assert taken.stock == Decimal("4") and reserved.stock == Decimal("2")
    entry = order.write_off(None)
    assert reserved.stock == Decimal("-1") and taken.stock == Decimal("4")
    assert "Display: stock is now -1" in entry.text
    with pytest.raises(OrderLocked):
        order.add_item("Late", Decimal("1"), Decimal("1"))


def test_status_change_to_the_same_status_writes_nothing():
    order = _order()
    assert order.change_status(order.status, None) is None and order.feed == []
    entry = order.change_status(Status(id=2, name="Ready", group=StatusGroup.COMPLETED), None)
    assert entry.text == "Status changed: New → Ready" and order.feed == [entry]
