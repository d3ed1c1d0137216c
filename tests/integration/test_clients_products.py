"""Clients and products: list with search, detail, create and edit."""
from decimal import Decimal

from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import Category, Client, Product


def test_client_search_by_name_phone_and_email(client, world):
    factories.client("Anna", "Schmidt", "+49 30 1234567", "anna@example.com")
    factories.client("Jonas", "Weber", "0151 23456789")
    sign_in(client, "admin")
    for text, expected in [("schmidt", "Anna"), ("0151 2345", "Jonas"), ("anna@ex", "Anna")]:
        html = client.get("/clients/", query_string={"q": text}).get_data(as_text=True)
        assert expected in html
        assert ({"Anna", "Jonas"} - {expected}).pop() not in html


def test_new_client_is_stored_with_raw_and_e164_phone(client, world):
    sign_in(client, "admin")
    response = post(client, "/clients/new", {"first_name": "Olena", "last_name": "K", "phone": "+380 67 123-45-67",
                                             "email": "Olena@Example.com"})
    olena = db.session.scalar(select(Client))
    assert response.location == f"/clients/{olena.id}"
    assert (olena.phone_raw, olena.phone, olena.email) == ("+380 67 123-45-67", "+380671234567", "olena@example.com")


def test_a_phone_of_another_client_is_refused(client, world):
    factories.client("Anna", "Schmidt", "+49 30 1234567")
    sign_in(client, "admin")
    html = post(client, "/clients/new", {"first_name": "Ann", "phone": "030 1234567"}).get_data(as_text=True)
    assert "belongs to Anna Schmidt already" in html
    assert db.session.query(Client).count() == 1


def test_an_unreadable_phone_is_refused(client, world):
    sign_in(client, "admin")
    html = post(client, "/clients/new", {"first_name": "Ann", "phone": "call me"}).get_data(as_text=True)
    assert "not a phone number we can read" in html


def test_not_specified_client_is_a_single_row(app):
    first = Client.not_specified()
    second = Client.not_specified()
    assert first.id == second.id and first.full_name == "Not specified"


def test_product_create_with_a_new_category_then_reuse_it(client, world):
    sign_in(client, "admin")
    post(client, "/products/new", {"name": "Battery", "sku": "BAT-1", "new_category": "Batteries", "stock": "4"})
    post(client, "/products/new", {"name": "Battery XL", "new_category": "Batteries", "stock": "1"})
    products = db.session.scalars(select(Product).order_by(Product.id)).all()
    assert [p.category.name for p in products] == ["Batteries", "Batteries"]
    assert db.session.query(Category).count() == 1
    assert products[0].stock == Decimal("4") and products[0].unit == "piece"


def test_product_search_by_sku(client, world):
    factories.product("Display", sku="DSP-13")
    factories.product("Battery", sku="BAT-1")
    sign_in(client, "admin")
    html = client.get("/products/?q=dsp").get_data(as_text=True)
    assert "Display" in html and "Battery" not in html


def test_product_detail_shows_its_orders(client, world):
    display = factories.product("Display")
    order = factories.order(world.main, world.repair, factories.client())
    order.add_item("Display", Decimal("1"), Decimal("10"), display)
    db.session.commit()
    sign_in(client, "admin")
    assert order.number in client.get(f"/products/{display.id}").get_data(as_text=True)
