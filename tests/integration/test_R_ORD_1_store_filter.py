"""R-ORD-1 and R-ORD-2 with deleted stores: the orders table's Store filter is a labelled select
with the rule's three choices and then every store by name, a deleted one marked
"Name (deleted)" and still filterable (its orders stay, R-CON-7); the Store column and the order
page say that the store was deleted.

Choices made where the rules are silent:
- "From connected stores" keeps meaning every imported order, a deleted store's included: they
  came through an integration (R-ORD-1's wording), and old links keep their meaning.
- A deleted store is listed only while orders of it remain: one whose orders were taken over by
  the store that connected its shop again (R-REL-1) has nothing left to filter. Its id in an
  old link still works (an empty table).
- A deleted store's name in the column still links the shop's orders page on the platform
  (R-ORD-2): the shop may well still exist; the link says "(deleted)" beside it and its title
  says what was deleted (the store in Orderdock, not the shop).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.integration.conftest import sign_in
from tests.support import factories
from webapp.models import Store

HX = {"HX-Request": "true"}
DELETED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def shops(world, client):
    """A live store, a deleted one with an order left, a deleted one without; one order each,
    and one order created in the back office."""
    live = factories.add(Store(platform="woocommerce", name="Kyiv gadgets", url="https://kyiv.example"))
    gone = factories.add(Store(platform="cartum", name="Old bazaar", url="https://old.example",
                               deleted_at=DELETED_AT, enabled=False))
    factories.add(Store(platform="shopify", name="Empty and gone", url="https://empty.example",
                        deleted_at=DELETED_AT, enabled=False))
    buyer = factories.client()
    orders = {
        "office": factories.order(world.main, world.repair, buyer),
        "live": factories.order(world.main, world.repair, buyer, store_id=live.id, external_id="101"),
        "gone": factories.order(world.main, world.repair, buyer, store_id=gone.id, external_id="202"),
    }
    sign_in(client, "admin")
    return live, gone, orders


def store_select(html: str) -> str:
    match = re.search(r'<select name="store"[^>]*>.*?</select>', html, re.S)
    assert match, "no Store filter on the orders page"
    return match.group(0)


def options(select: str) -> list[tuple[str, str]]:
    return [(value, " ".join(text.split())) for value, text in
            re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select, re.S)]


def numbers(html: str) -> set[str]:
    return set(re.findall(r'class="strong" href="/orders/\d+">(A\d{5})<', html))


def test_R_ORD_1_the_store_filter_has_a_label_the_three_choices_and_every_store(client, shops):
    """The select is named by a visible <label> (not only by its first option, "All orders"), and
    offers all / back office / connected stores, then the live stores, then the deleted ones
    that still have orders, marked."""
    live, gone, _ = shops
    html = client.get("/orders/").get_data(as_text=True)
    select = store_select(html)
    control = re.search(r'id="([^"]+)"', select)
    assert control, "the Store filter has no id for a label to point at"
    assert re.search(rf'<label[^>]*for="{control.group(1)}"[^>]*>\s*Store\s*</label>', html), \
        "the Store filter has no visible label"
    assert options(select) == [("", "All orders"), ("office", "Created in the back office"),
                               ("integrations", "From connected stores"), (str(live.id), "Kyiv gadgets"),
                               (str(gone.id), "Old bazaar (deleted)")]


def test_R_ORD_1_a_deleted_stores_orders_can_be_filtered_and_old_links_still_work(client, shops):
    live, gone, orders = shops
    number = {name: order.number for name, order in orders.items()}
    html = client.get(f"/orders/?store={gone.id}").get_data(as_text=True)
    assert numbers(html) == {number["gone"]}
    assert re.search(rf'<option value="{gone.id}" selected>Old bazaar \(deleted\)</option>', html)
    assert numbers(client.get("/orders/?store=office").get_data(as_text=True)) == {number["office"]}
    assert numbers(client.get("/orders/?store=integrations").get_data(as_text=True)) == {number["live"], number["gone"]}
    assert numbers(client.get(f"/orders/?store={live.id}", headers=HX).get_data(as_text=True)) == {number["live"]}
    assert numbers(client.get("/orders/?store=").get_data(as_text=True)) == set(number.values())
    refused = client.get("/orders/?store=old")
    assert refused.status_code == 400 and "“store” must be the number of an existing record" in refused.get_data(as_text=True)


def test_R_ORD_2_the_store_column_marks_a_deleted_store(client, shops):
    """The live store's link is unchanged; the deleted one's still opens the shop's orders page
    on its platform (the shop may exist), marked "(deleted)" with a title that says so."""
    html = client.get("/orders/").get_data(as_text=True)
    rows = {name: row for row in re.findall(r"<tr>.*?</tr>", html, re.S)
            for name in ("Kyiv gadgets", "Old bazaar") if name in row}
    assert re.search(r'<a class="store-link" href="https://kyiv.example/wp-admin/edit.php\?post_type=shop_order"', rows["Kyiv gadgets"])
    assert "deleted" not in rows["Kyiv gadgets"]
    gone = rows["Old bazaar"]
    link = re.search(r'<a class="store-link store-deleted" href="(https://old\.example[^"]*)"[^>]*title="([^"]*)"[^>]*>Old bazaar</a>', gone)
    assert link, gone
    assert "deleted in Orderdock" in link.group(2)
    assert re.search(r"</a>\s*<span[^>]*>\(deleted\)</span>", gone)


def test_R_ORD_4_the_order_page_says_its_store_was_deleted(client, shops):
    """The order's Store field names the store, marked deleted with the date, and says what that
    means: the order is no longer updated from the shop and has no Update button."""
    _, _, orders = shops
    html = client.get(f"/orders/{orders['gone'].id}").get_data(as_text=True)
    assert "Old bazaar" in html
    assert re.search(r"The store was deleted on 02\.03\.2026: this order is no longer updated from the shop", html)
    assert "Update now" not in html
    live = client.get(f"/orders/{orders['live'].id}").get_data(as_text=True)
    assert "was deleted" not in live
