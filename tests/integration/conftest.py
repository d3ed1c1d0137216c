"""The app on a real, migrated database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)
and the session's own Redis; every test starts from empty tables."""
from __future__ import annotations

import re

import pytest
from flask import g

from tests.support import factories
from webapp import create_app
from webapp.extensions import db
from webapp.models import StatusGroup


@pytest.fixture
def app(database_url, redis_url, tmp_path):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "CURRENCY": "EUR",
        "TIMEZONE": "Europe/Berlin", "PHONE_REGION": "DE",
    })
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app):
    """A small back office: two locations, statuses, an order type, an admin."""
    class World:
        pass

    w = World()
    w.main = factories.location("Main workshop")
    w.branch = factories.location("City shop")
    w.new = factories.status("New", color="#2563eb")
    w.progress = factories.status("In progress", color="#16a34a")
    w.repair = factories.order_type(w.new, "Repair")
    w.admin = factories.employee("admin")
    return w


@pytest.fixture
def office(world):
    """The world plus a status in every group (for store mappings) and the order type of imports."""
    factories.status("Handed to courier", StatusGroup.DELIVERY)
    factories.status("On hold", StatusGroup.PENDING)
    factories.status("Closed", StatusGroup.CLOSED_SUCCESS)
    factories.status("Cancelled", StatusGroup.CLOSED_FAIL)
    factories.order_type(world.new, "Online order")
    return world


@pytest.fixture
def named_office(world):
    """The world plus our statuses named after the platforms' (so that a store's mapping can be
    made by name) and the order type of imports."""
    for name, group in [("Processing", StatusGroup.IN_PROGRESS), ("Paid", StatusGroup.IN_PROGRESS),
                        ("Shipping", StatusGroup.DELIVERY), ("On hold", StatusGroup.PENDING),
                        ("Completed", StatusGroup.COMPLETED), ("Delivered", StatusGroup.CLOSED_SUCCESS),
                        ("Cancelled", StatusGroup.CLOSED_FAIL)]:
        factories.status(name, group)
    factories.order_type(world.new, "Online order")
    return world


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str = "/login") -> str:
    """The CSRF token as a browser gets it: from a rendered form."""
    # The fixture's app context outlives requests, and Flask-WTF caches the token in `g`;
    # drop it so each client gets the token of its own session.
    g.pop("csrf_token", None)
    html = client.get(url).get_data(as_text=True)
    match = CSRF.search(html)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def sign_in(client, login: str, password: str = factories.PASSWORD):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"login": login, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def post(client, url: str, data: dict | None = None, page: str | None = None, **kwargs):
    """POST like the page does: with the CSRF token taken from ``page`` (default: the form's page)."""
    token = csrf_token(client, page or url)
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)
