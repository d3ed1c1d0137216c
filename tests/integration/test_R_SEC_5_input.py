"""R-SEC-5: malformed input gets 400/404 with a message, never a 500 (issue 11, finding 6).

Choices made where the rule leaves room:
- An id in the path that no row can have (beyond the INTEGER range of our id columns, or
  written with non-ASCII digits) is a 404 with the "no such …" page, like an id that was deleted.
- An id in a query string or a form that is not made of ASCII digits, or is beyond that range,
  is a 400 naming the field: such a value never comes from our pages, so it is a broken link
  or a hand-made request, and saying so beats showing an unfiltered list.
- Money is finite, has at most 2 decimal places and fits NUMERIC(12, 2) (below ten billion);
  quantities and stock have at most 3 places and fit NUMERIC(12, 3). A line or an order total
  that would not fit is refused on the form, next to the price.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import Order, OrderItem, Product, Status

HUGE = "99999999999999999999"  # 20 digits: beyond BIGINT, let alone INTEGER
BEYOND_INTEGER = str(2**31)     # fits SQLite's 64-bit integers, not PostgreSQL's INTEGER


@pytest.fixture
def signed_in(client, world):
    buyer = factories.client("Anna", "Schmidt", "+49 30 1234567")
    order = factories.order(world.main, world.repair, buyer)
    sign_in(client, "admin")
    return order


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("query", [
    "store=²", "store=٣", f"store={HUGE}", f"status={HUGE}", f"location={HUGE}", "status=²",
    f"location={BEYOND_INTEGER}", "status=-1", "location=1.5",
])
def test_R_SEC_5_a_malformed_filter_is_a_400_naming_the_filter(client, signed_in, query):
    """`str.isdigit` accepts '²' (int() then fails); a 20-digit id overflows the database driver."""
    response = client.get(f"/orders/?{query}")
    assert response.status_code == 400, text_of(response)[:300]
    name = query.split("=")[0]
    assert f"“{name}”" in text_of(response) and "choose it from the list" in text_of(response)


def test_R_SEC_5_well_formed_filters_still_work(client, signed_in, world):
    assert client.get(f"/orders/?status={world.new.id}&location={world.main.id}&store=office").status_code == 200
    assert client.get("/orders/?status=&location=&store=").status_code == 200


@pytest.mark.parametrize("path", [
    f"/orders/{HUGE}", f"/orders/{BEYOND_INTEGER}", f"/orders/{HUGE}/comments", f"/clients/{HUGE}",
    f"/clients/{HUGE}/edit", f"/products/{HUGE}", f"/notifications/{HUGE}", f"/settings/stores/{HUGE}",
    f"/settings/locations/{HUGE}", f"/settings/employees/{HUGE}", "/orders/1/update/" + HUGE, "/orders/٣",
])
def test_R_SEC_5_an_id_no_row_can_have_in_the_path_is_a_404_with_a_message(client, signed_in, path):
    response = client.post(path) if path.endswith("comments") else client.get(path)
    assert response.status_code == 404, text_of(response)[:300]
    assert "There is no such" in text_of(response)


@pytest.mark.parametrize("value", [HUGE, "²", "abc"])
def test_R_SEC_5_a_malformed_id_in_a_form_is_a_400(client, signed_in, value):
    """The bulk update's ticked orders (a form) and the new order's client (query and form)."""
    bulk = post(client, "/orders/update", {"order_ids": [str(signed_in.id), value]}, page="/orders/")
    assert bulk.status_code == 400 and "“order_ids”" in text_of(bulk)
    preset = client.get(f"/orders/new?client_id={value}")
    assert preset.status_code == 400 and "“client_id”" in text_of(preset)
    hidden = post(client, "/orders/new", {"client_id": value, "location_id": signed_in.location_id,
                                          "order_type_id": signed_in.order_type_id})
    assert hidden.status_code == 400 and "“client_id”" in text_of(hidden)


def items_of(order_id: int) -> list[OrderItem]:
    db.session.expire_all()
    return list(db.session.scalars(select(OrderItem).where(OrderItem.order_id == order_id)))


@pytest.mark.parametrize("price,message", [
    ("Infinity", "Enter the price as a number"), ("-Infinity", "Enter the price as a number"),
    ("NaN", "Enter the price as a number"), ("sNaN", "Enter the price as a number"),
    ("1e30", "at most 9,999,999,999.99"), ("99999999999999999999.99", "at most 9,999,999,999.99"),
    ("10000000000", "at most 9,999,999,999.99"), ("1.005", "at most 2 decimal places"),
])
def test_R_SEC_5_an_impossible_price_is_a_field_error_and_nothing_is_stored(client, signed_in, price, message):
    """Infinity and 1e30 raised InvalidOperation; 99999999999999999999.99 was stored as 1e20 in a
    NUMERIC(12, 2) column (SQLite does not check the precision; PostgreSQL would fail with a 500)."""
    response = post(client, f"/orders/{signed_in.id}/items",
                    {"product_id": "0", "name": "Screen", "quantity": "1", "price": price},
                    page=f"/orders/{signed_in.id}")
    assert response.status_code == 422, text_of(response)[:300]
    assert message in text_of(response)
    assert items_of(signed_in.id) == []


@pytest.mark.parametrize("quantity,message", [
    ("Infinity", "Enter the quantity as a number"), ("NaN", "Enter the quantity as a number"),
    ("1e12", "at most 999,999,999.999"), ("0.0001", "at most 3 decimal places"),
])
def test_R_SEC_5_an_impossible_quantity_is_a_field_error(client, signed_in, quantity, message):
    response = post(client, f"/orders/{signed_in.id}/items",
                    {"product_id": "0", "name": "Screen", "quantity": quantity, "price": "1"},
                    page=f"/orders/{signed_in.id}")
    assert response.status_code == 422 and message in text_of(response)
    assert items_of(signed_in.id) == []


def test_R_SEC_5_a_line_whose_total_does_not_fit_an_order_is_refused(client, signed_in):
    """Each number fits its column, their product does not fit the order's amount column."""
    response = post(client, f"/orders/{signed_in.id}/items",
                    {"product_id": "0", "name": "Screen", "quantity": "999999999", "price": "9999999999"},
                    page=f"/orders/{signed_in.id}")
    assert response.status_code == 422 and "more than an order can hold" in text_of(response)
    assert items_of(signed_in.id) == []
    assert db.session.get(Order, signed_in.id).amount == Decimal("0")


def test_R_SEC_5_the_largest_price_that_fits_is_stored_exactly(client, signed_in):
    response = post(client, f"/orders/{signed_in.id}/items",
                    {"product_id": "0", "name": "Screen", "quantity": "1", "price": "9999999999.99"},
                    page=f"/orders/{signed_in.id}")
    assert response.status_code == 302
    assert [item.price for item in items_of(signed_in.id)] == [Decimal("9999999999.99")]


@pytest.mark.parametrize("stock", ["NaN", "Infinity", "1e30", "0.0001"])
def test_R_SEC_5_an_impossible_stock_is_a_field_error(client, signed_in, stock):
    """NaN made the range check itself raise InvalidOperation."""
    response = post(client, "/products/new", {"name": "Display", "stock": stock, "category_id": "0"})
    assert response.status_code == 200 and 'id="stock-error"' in text_of(response)
    assert db.session.scalar(select(func.count(Product.id))) == 0


def test_R_SEC_5_a_status_position_beyond_the_column_is_a_field_error(client, signed_in):
    response = post(client, "/settings/statuses", {"name": "Odd", "color": "#123456", "group": "new",
                                                   "position": HUGE})
    assert response.status_code == 200 and 'id="position-error"' in text_of(response)
    assert db.session.scalar(select(Status).where(Status.name == "Odd")) is None
