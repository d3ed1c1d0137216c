"""The smaller findings of a week of real use (issue 12): the store page names its language,
stock reads in the right plural, "Update orders" with nothing ticked asks for a tick and
queues nothing, the wizard's ids are unique (each label points at its control), and the
"written off" message is shown once, not again on the next page.

The status push's outcome shown without a reload is in test_status_push.py (it needs a shop)."""
from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import ImportState, Role, Store, SyncRun
from webapp.sync.queues import QUEUES, queue

HX = {"HX-Request": "true"}


@pytest.fixture
def admin(world, client):
    sign_in(client, "admin")
    return world


def test_R_CON_2_the_store_page_names_the_language_of_product_names(client, admin, redis):
    """Cartum's language key ("en", "ua") is a name on the store page, as the wizard offers it."""
    store = factories.add(Store(platform="cartum", name="Kyiv gadgets", url="https://kyiv.example",
                                location=admin.main, order_type=admin.repair, language="ua",
                                import_state=ImportState.DONE))
    html = client.get(f"/settings/stores/{store.id}").get_data(as_text=True)
    assert re.search(r"<dt>Language</dt><dd>Ukrainian</dd>", html), html[html.find("Language"):][:200]
    store.language = "en"
    db.session.commit()
    assert "<dt>Language</dt><dd>English</dd>" in client.get(f"/settings/stores/{store.id}").get_data(as_text=True)


@pytest.mark.parametrize("stock,shown", [("0", "0 pieces"), ("1", "1 piece"), ("2", "2 pieces"),
                                         ("1.5", "1.5 pieces"), ("-1", "-1 piece"), ("-3", "-3 pieces")])
def test_stock_reads_in_the_plural_of_its_unit(client, admin, stock, shown):
    """"0 piece" read wrong: every quantity but one (and minus one) takes the plural."""
    product = factories.product("Display", stock=stock)
    table = client.get("/products/").get_data(as_text=True)
    assert re.search(rf'<td class="num[^"]*">{re.escape(shown)}</td>', table), table[table.find("<tbody>"):][:400]
    detail = client.get(f"/products/{product.id}").get_data(as_text=True)
    assert re.search(rf"<dt>In stock</dt><dd[^>]*>{re.escape(shown)}</dd>", detail)


def test_R_ORD_3_update_orders_with_nothing_ticked_asks_to_tick_first(client, admin, redis):
    """No "0 orders queued": the message says what to do, and no job or run is made."""
    store = factories.add(Store(platform="woocommerce", name="Kyiv gadgets", url="https://kyiv.example",
                                location=admin.main, order_type=admin.repair, import_state=ImportState.DONE))
    factories.order(admin.main, admin.repair, factories.client(), store_id=store.id, external_id="7")
    response = post(client, "/orders/update", {"next": "/orders/?store=integrations"}, page="/orders/")
    assert response.status_code == 302 and response.location == "/orders/?store=integrations"
    page = client.get(response.location).get_data(as_text=True)
    assert "Tick the orders to update first" in page and "queued" not in page
    assert all(queue(name).count == 0 for name in QUEUES)
    assert db.session.scalar(select(SyncRun.id)) is None


def ids_of(html: str) -> list[str]:
    return re.findall(r'\sid="([^"]+)"', html)


@pytest.mark.parametrize("which", ["new", "edit"])
def test_R_CON_2_the_wizards_ids_are_unique_and_every_label_points_at_a_control(client, admin, redis, which):
    """Two elements had id="managers" (the fieldset and the radio list), so its label and the
    location's refresh could reach the wrong one. The edit page has a location, so the
    managers' checklist too."""
    factories.employee("maria", Role.MANAGER, [admin.main])
    store = factories.add(Store(platform="cartum", name="Kyiv gadgets", url="https://kyiv.example",
                                location=admin.main, order_type=admin.repair, import_state=ImportState.DONE))
    url = "/settings/stores/new" if which == "new" else f"/settings/stores/{store.id}/edit"
    html = client.get(url).get_data(as_text=True)
    assert which == "new" or "Maria Person" in html
    twice = [name for name, count in Counter(ids_of(html)).items() if count > 1]
    assert not twice, f"ids used more than once: {twice}"
    for target in re.findall(r'<label[^>]*\sfor="([^"]+)"', html):
        assert f'id="{target}"' in html, f"a label points at {target}, which is not on the page"


def test_the_written_off_message_is_shown_once_not_again_on_the_next_page(client, admin):
    """Write-off through htmx: its message comes in that answer (into the page's messages, out of
    band) and is not kept for the next page, where it used to appear a second time."""
    order = factories.order(admin.main, admin.repair, factories.client())
    product = factories.product("Display", stock="3")
    url = f"/orders/{order.id}"
    post(client, f"{url}/items", {"product_id": product.id, "quantity": "1", "price": "10"}, page=url)
    answer = post(client, f"{url}/write-off", page=url, headers=HX)
    html = answer.get_data(as_text=True)
    message = f"Products of order {order.number} written off."
    assert answer.status_code == 200 and message in html
    assert re.search(r'<div id="flashes"[^>]*hx-swap-oob="true"', html)
    assert message not in client.get("/orders/").get_data(as_text=True)
    # Without JavaScript the message travels with the redirect, once.
    second = factories.order(admin.main, admin.repair, factories.client())
    post(client, f"/orders/{second.id}/items", {"product_id": product.id, "quantity": "1", "price": "10"},
         page=f"/orders/{second.id}")
    plain = post(client, f"/orders/{second.id}/write-off", page=f"/orders/{second.id}")
    assert plain.status_code == 302
    assert f"Products of order {second.number} written off." in client.get(plain.location).get_data(as_text=True)
    assert f"Products of order {second.number} written off." not in client.get("/orders/").get_data(as_text=True)
    assert Decimal(1) == db.session.get(type(product), product.id).stock
