"""R-ORD-8: each new imported order notifies its store's managers in the app — a counter in
the header, a list linking to the orders, read once opened. Real worker and simulator."""
from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import func, select

from tests.integration.conftest import sign_in
from tests.integration.test_sync_jobs import add_remote_order, fresh, imported, work
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Notification, Order, Role, Store
from webapp.sync.enqueue import enqueue_sync


@pytest.fixture
def managers(office):
    factories.employee("ana", Role.MANAGER, [office.main])
    factories.employee("ben", Role.MANAGER, [office.main])
    factories.employee("far", Role.MANAGER, [office.branch])  # no access to the store's location
    factories.employee("eng", Role.ENGINEER, [office.main])


def counter(client) -> int:
    html = client.get("/notifications/count").get_data(as_text=True)
    found = re.search(r'<span class="count">(\d+)</span>', html)
    return int(found.group(1)) if found else 0


def test_R_ORD_8_a_new_order_after_the_import_notifies_the_store_managers_only(client, office, managers, redis):
    with serving("woocommerce", orders=40) as sim:
        store_id = imported("woocommerce", sim)
        assert db.session.scalar(select(func.count(Notification.id))) == 0  # the backfill is no news
        new_id = add_remote_order("woocommerce", sim)
        enqueue_sync(fresh(Store, store_id))
        work()
    order = db.session.scalar(select(Order).filter_by(store_id=store_id, external_id=new_id))
    order_id, number = order.id, order.number
    for login, expected in (("ana", 1), ("ben", 1), ("far", 0), ("eng", 0), ("admin", 0)):
        g.pop("_login_user", None)
        sign_in(client, login)
        assert counter(client) == expected, login
    g.pop("_login_user", None)
    sign_in(client, "ana")
    listed = client.get("/notifications/").get_data(as_text=True)
    link = re.search(r'href="(/notifications/\d+)">' + number, listed).group(1)
    opened = client.get(link)
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/orders/{order_id}")
    assert counter(client) == 0
    g.pop("_login_user", None)
    sign_in(client, "ben")
    assert counter(client) == 1  # read for Ana only
    client.get(f"/orders/{order_id}")  # opened another way: read too
    assert counter(client) == 0
