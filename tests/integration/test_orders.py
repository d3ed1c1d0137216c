"""The orders table (filters, search, paging, sorting) and the order page (feed, status, items,
write-off)."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import FeedKind, Order, Product
from webapp.models.types import utcnow


@pytest.fixture
def orders(world, client):
    anna = factories.client("Anna", "Schmidt", "+49 30 1234567")
    olena = factories.client("Olena", "Kovalenko", "+380 67 123-45-67")
    first = factories.order(world.main, world.repair, anna, created_at=utcnow() - timedelta(days=2))
    second = factories.order(world.branch, world.repair, olena, world.progress, created_at=utcnow() - timedelta(days=1))
    third = factories.order(world.main, world.repair, olena, created_at=utcnow())
    sign_in(client, "admin")
    return first, second, third


def numbers(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [n for n in ("A00001", "A00002", "A00003") if f">{n}<" in html]


def test_orders_table_lists_newest_first(client, orders):
    html = client.get("/orders/").get_data(as_text=True)
    assert html.index(">A00003<") < html.index(">A00002<") < html.index(">A00001<")


def test_sorting_oldest_first(client, orders):
    html = client.get("/orders/?sort=old").get_data(as_text=True)
    assert html.index(">A00001<") < html.index(">A00002<") < html.index(">A00003<")


def test_filter_by_status(client, orders, world):
    assert numbers(client.get(f"/orders/?status={world.progress.id}")) == ["A00002"]


def test_filter_by_location(client, orders, world):
    assert numbers(client.get(f"/orders/?location={world.main.id}")) == ["A00001", "A00003"]


@pytest.mark.parametrize("text,expected", [
    ("A00002", ["A00002"]),
    ("kovalenko", ["A00002", "A00003"]),
    ("Anna Schmidt", ["A00001"]),
    ("380671234567", ["A00002", "A00003"]),   # phone typed without + finds +380 67 123-45-67
    ("030 1234567", ["A00001"]),              # national format finds +49 30 1234567
    ("nobody", []),
])
def test_free_text_search(client, orders, text, expected):
    assert numbers(client.get("/orders/", query_string={"q": text})) == expected


def test_filters_combine_and_empty_result_says_so(client, orders, world):
    response = client.get(f"/orders/?q=anna&location={world.branch.id}")
    assert numbers(response) == []
    assert "No orders match these filters" in response.get_data(as_text=True)


def test_htmx_request_gets_only_the_table(client, orders):
    response = client.get("/orders/?q=anna", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<table" in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_pagination(client, world, app):
    app.config["ORDERS_PER_PAGE"] = 2
    buyer = factories.client()
    for _ in range(5):
        factories.order(world.main, world.repair, buyer)
    sign_in(client, "admin")
    first = client.get("/orders/").get_data(as_text=True)
    last = client.get("/orders/?page=3").get_data(as_text=True)
    assert "Page 1 of 3" in first and "5 in all" in first
    assert "Page 3 of 3" in last and ">A00001<" in last and ">A00005<" not in last


def test_create_order_for_a_new_client(client, world):
    sign_in(client, "admin")
    response = post(client, "/orders/new", {"location_id": world.main.id, "order_type_id": world.repair.id,
                                             "first_name": "Jonas", "phone": "0151 23456789"})
    order = db.session.scalar(select(Order))
    assert response.location == f"/orders/{order.id}"
    assert order.status == world.new and order.client.phone == "+4915123456789"
    assert order.currency == "EUR" and order.manager.login == "admin"


def test_create_order_reuses_the_client_with_the_same_phone(client, world):
    anna = factories.client("Anna", "Schmidt", "+49 30 1234567")
    sign_in(client, "admin")
    post(client, "/orders/new", {"location_id": world.main.id, "order_type_id": world.repair.id,
                                 "first_name": "A.", "phone": "030/1234567"})
    assert db.session.scalar(select(Order)).client_id == anna.id


def test_create_order_without_any_client_detail_is_refused_with_a_message(client, world):
    sign_in(client, "admin")
    response = post(client, "/orders/new", {"location_id": world.main.id, "order_type_id": world.repair.id})
    assert "Enter the client&#39;s first name" in response.get_data(as_text=True)
    assert db.session.scalar(select(Order)) is None


def test_comment_goes_to_the_feed(client, orders):
    order = orders[0]
    response = post(client, f"/orders/{order.id}/comments", {"text": "Called the client"})
    assert response.status_code == 302
    entry = order.feed[0]
    assert (entry.kind, entry.text, entry.author.login) == (FeedKind.COMMENT, "Called the client", "admin")


def test_empty_comment_is_refused_with_a_message(client, orders):
    order = orders[0]
    response = post(client, f"/orders/{order.id}/comments", {"text": "  "}, headers={"HX-Request": "true"},
                    page=f"/orders/{order.id}")
    assert response.status_code == 422
    assert "Write something first" in response.get_data(as_text=True)


def test_status_change_writes_a_feed_entry(client, orders, world):
    order = orders[0]
    post(client, f"/orders/{order.id}/status", {"status_id": world.progress.id}, page=f"/orders/{order.id}")
    db.session.refresh(order)
    assert order.status == world.progress
    assert order.feed[0].kind == FeedKind.STATUS
    assert order.feed[0].text == "Status changed: New → In progress"


def test_R_ORD_6_amount_is_the_total_of_the_items(client, orders):
    order = orders[0]
    display = factories.product("Display", stock="3")
    url = f"/orders/{order.id}"
    post(client, f"{url}/items", {"product_id": display.id, "quantity": "2", "price": "49.95"}, page=url)
    post(client, f"{url}/items", {"product_id": 0, "name": "Labour", "quantity": "1.5", "price": "20"}, page=url)
    db.session.refresh(order)
    assert [item.name for item in order.items] == ["Display", "Labour"]
    assert order.amount == Decimal("129.90")
    assert not order.items[0].deductible  # added without deduction until written off
    assert db.session.get(Product, display.id).stock == Decimal("3")


def test_write_off_deducts_stock_and_freezes_the_items(client, orders):
    order = orders[0]
    display = factories.product("Display", stock="3")
    url = f"/orders/{order.id}"
    post(client, f"{url}/items", {"product_id": display.id, "quantity": "2", "price": "10"}, page=url)
    response = post(client, f"{url}/write-off", page=url)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Product, display.id).stock == Decimal("1")
    order = db.session.get(Order, order.id)
    assert order.written_off_at is not None and order.items[0].deductible
    assert order.feed[0].text.startswith("Products written off: 1 item")
    again = post(client, f"{url}/write-off", page=url)
    assert again.status_code == 409 and "already written off" in again.get_data(as_text=True)
    late = post(client, f"{url}/items", {"product_id": 0, "name": "More", "quantity": "1", "price": "1"}, page=url)
    assert late.status_code == 409
    assert db.session.get(Product, display.id).stock == Decimal("1")


def test_write_off_of_an_empty_order_is_refused(client, orders):
    url = f"/orders/{orders[0].id}"
    response = post(client, f"{url}/write-off", page=url)
    assert response.status_code == 409 and "no products to write off" in response.get_data(as_text=True)


def test_write_off_needs_the_permission(client, world, orders):
    factories.employee("clerk", can_write_off=False)
    other = client.application.test_client()
    sign_in(other, "clerk")
    factories.product()
    url = f"/orders/{orders[0].id}"
    response = post(other, f"{url}/write-off", page=url)
    assert response.status_code == 403


def test_unknown_order_is_a_clear_404(client, orders):
    response = client.get("/orders/99999")
    assert response.status_code == 404 and "There is no such order" in response.get_data(as_text=True)


def test_order_numbers_are_unique_and_increasing(app, world):
    buyer = factories.client()
    made = [factories.order(world.main, world.repair, buyer).number for _ in range(3)]
    assert made == ["A00001", "A00002", "A00003"]
