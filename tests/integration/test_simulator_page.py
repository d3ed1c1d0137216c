"""Each simulator's "demo shop control" page (``GET /_sim/``): it lists the newest orders, and
its buttons (plain form posts to ``/_sim/demo/<action>``) change the shop as the JSON control
API and the platform API then show it. Real loopback HTTP through ``requests``, as a browser.
"""
from __future__ import annotations

import re

import pytest
import requests

from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.simulators import serving

PLATFORMS = ("cartum", "shopify", "woocommerce")
TITLES = {"cartum": "Cartum", "shopify": "Shopify", "woocommerce": "WooCommerce"}
ORDER_ID = re.compile(r'name="order_id" value="(\d+)"')
MESSAGE = re.compile(r'class="(?:message|error)">([^<]*)<')
UNKNOWN = 987654321
SHOPIFY_API = "/admin/api/2026-07"


@pytest.fixture(scope="module")
def shops():
    # One shop per platform for the module: each simulator costs half a second to shut down.
    # Tests that change data pick orders no other test changes.
    with serving("cartum", orders=40) as cartum, serving("shopify", orders=40) as shopify, \
            serving("woocommerce", orders=40) as woocommerce:
        yield {"cartum": cartum, "shopify": shopify, "woocommerce": woocommerce}


def page(sim) -> str:
    response = requests.get(f"{sim.url}/_sim/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    return response.text


def press(sim, action: str, order_id: int | str | None = None) -> requests.Response:
    """A button of the page, as a browser posts it (and follows the redirect back)."""
    form = {} if order_id is None else {"order_id": str(order_id)}
    return requests.post(f"{sim.url}/_sim/demo/{action}", data=form, timeout=10)


def done(sim, action: str, order_id: int | None = None) -> str:
    """Press a button that must work; the one-line message the page shows after it."""
    response = press(sim, action, order_id)
    assert response.status_code == 200, response.text
    assert response.history and response.history[0].status_code == 303
    assert response.url.startswith(f"{sim.url}/_sim/?")
    return MESSAGE.search(response.text).group(1)


def order(sim, order_id: int) -> dict:
    """The order as the JSON control API shows it."""
    return sim.control("GET", f"orders/{order_id}")


# ---------------------------------------------------------------------------------------------
# Every platform
# ---------------------------------------------------------------------------------------------


def summaries(platform: str, sim) -> list[dict]:
    listed = sim.control("GET", "orders")
    return listed["orders"] if platform == "cartum" else listed


def ids_of(platform: str, rows: list[dict]) -> list[int]:
    return [row["order_id" if platform == "cartum" else "id"] for row in rows]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_page_names_the_platform_and_lists_the_15_newest_orders(shops, platform):
    sim = shops[platform]
    html = page(sim)
    assert f"{TITLES[platform]} demo shop control" in html
    assert "next sync (every 5 minutes)" in " ".join(html.split())
    assert "Add a new order" in html
    listed = list(dict.fromkeys(int(i) for i in ORDER_ID.findall(html)))
    newest = sorted(ids_of(platform, summaries(platform, sim)), reverse=True)[:15]
    assert listed == newest  # the newest first: ids grow with the creation time in every simulator
    assert "<script" not in html and "<link" not in html and "src=" not in html  # self-contained


@pytest.mark.parametrize("platform", PLATFORMS)
def test_adding_an_order_adds_an_open_one_in_euro_at_the_top(shops, platform):
    sim = shops[platform]
    before = set(ids_of(platform, summaries(platform, sim)))

    message = done(sim, "add")

    added = set(ids_of(platform, summaries(platform, sim))) - before
    assert len(added) == 1
    new_id = added.pop()
    assert message.startswith("Added order") and "EUR" in message
    assert int(ORDER_ID.search(page(sim)).group(1)) == new_id  # first row of the table
    CHECK_NEW[platform](order(sim, new_id))
    assert API_ORDER[platform](sim, new_id) is not None  # the platform API serves it too


@pytest.mark.parametrize("platform", PLATFORMS)
def test_unknown_orders_actions_and_ids_get_a_clear_error(shops, platform):
    sim = shops[platform]
    response = press(sim, "quantity", UNKNOWN)
    assert response.status_code == 404
    assert MESSAGE.search(response.text).group(1) == f"There is no order {UNKNOWN} in this shop."
    assert 'href="/_sim/"' in response.text  # the way back
    missing = press(sim, "refund", 1)
    assert missing.status_code == 404
    assert "There is no demo action &#39;refund&#39;." in missing.text
    assert press(sim, "quantity", "abc").status_code == 400


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_page_and_its_buttons_are_no_platform_api_calls(shops, platform):
    sim = shops[platform]
    sim.control("DELETE", "requests")
    before = sim.stats()["requests"]
    sim.inject("500")  # an injected fault is for the next API call, not for the page
    try:
        page(sim)
        done(sim, "quantity", int(ORDER_ID.search(page(sim)).group(1)))
        assert sim.requests() == []
        assert sim.stats()["requests"] == before
        assert len(sim.app.extensions["sim_state"].faults) == 1  # still waiting for an API call
    finally:
        sim.control("DELETE", "faults")


# ---------------------------------------------------------------------------------------------
# How to connect it: the demo a newcomer tries the wizard with (issue 12)
# ---------------------------------------------------------------------------------------------

ACCESS_ROW = re.compile(r"<tr><th>([^<]+)</th><td><code>([^<]*)</code></td></tr>")
# Credentials a launcher might start each shop with, and the rows the page must show for them.
ACCESS = {
    "cartum": ({"login": "owner", "password": "Pw-cartum_1"}, {"Login": "owner", "Password": "Pw-cartum_1"}),
    "shopify": ({"token": "shpat_0123abcd"}, {"Admin API access token": "shpat_0123abcd"}),
    "woocommerce": ({"consumer_key": "ck_0123", "consumer_secret": "cs_4567"},
                    {"Consumer key": "ck_0123", "Consumer secret": "cs_4567"}),
}


def access_on(html: str) -> dict[str, str]:
    return dict(ACCESS_ROW.findall(html))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_CON_3_each_demo_shop_page_shows_its_address_and_access_as_the_wizard_names_them(platform):
    """The page says what to type into Orderdock's wizard to connect the shop: the platform, the
    Website URL (where the page itself is served) and each credential the shop started with,
    under the label of the wizard's own field (R-CON-3; the labels are compared with the
    adapters' rules, so a renamed field fails here). Shopify's optional Dev Dashboard fields are
    left out: the token is enough. The page is the simulator's, on loopback, not the back
    office: showing a simulated shop's made-up credentials there is its point."""
    from webapp.platforms import PLATFORMS as ADAPTERS

    options, shown = ACCESS[platform]
    with serving(platform, orders=3, **options) as sim:
        html = page(sim)
    access = access_on(html)
    assert access == {"Platform": TITLES[platform], "Website URL": sim.url, **shown}
    labels = {field.label for field in ADAPTERS[platform].RULES.credential_fields}
    assert set(shown) <= labels
    assert "not connected" not in html  # the launcher's connected demo shops


def test_a_spare_demo_shop_page_says_it_is_not_connected_and_where_to_connect_it():
    """``spare=1``: the shop `make run` leaves unconnected for a newcomer to try the wizard."""
    with serving("woocommerce", orders=3, spare="1") as sim:
        html = " ".join(page(sim).split())
    assert "WooCommerce spare demo shop" in html
    assert "not connected to Orderdock" in html
    assert "Settings &gt; Stores &gt; + Store" in html
    assert access_on(html)["Website URL"] == sim.url


def test_R_CON_8_a_simulators_access_log_hides_secrets_sent_in_the_query_string():
    """`make run` keeps each demo shop's requests in instance/logs/: a WooCommerce key sent as
    query parameters (what WooCommerce accepts over https) must not land there in clear."""
    from simulators.common import loggable

    line = loggable("GET /wp-json/wc/v3/orders?consumer_key=ck_1&consumer_secret=cs_2&page=1 HTTP/1.1")
    assert line == "GET /wp-json/wc/v3/orders?consumer_key=ck_1&consumer_secret=[hidden]&page=1 HTTP/1.1"
    assert loggable("GET /x?password=p%20w&token=t HTTP/1.1\x1b[31m") == \
        "GET /x?password=[hidden]&token=[hidden] HTTP/1.1?[31m"


# ---------------------------------------------------------------------------------------------
# Cartum
# ---------------------------------------------------------------------------------------------


def cartum_api(sim, order_id: int) -> dict:
    token = requests.post(f"{sim.url}/api/auth/", json={"login": "manager", "password": "cartum-demo"},
                          timeout=10).json()["response"]["token"]
    answer = requests.post(f"{sim.url}/api/orders/get/", json={"token": token, "ids": [order_id]},
                           timeout=10).json()
    return answer["response"]["orders"][0]


def cartum_with(sim, statuses: tuple[int, ...]) -> int:
    """A seeded order in one of ``statuses``, not changed by another test yet."""
    candidates = [r["order_id"] for r in summaries("cartum", sim)
                  if r["stat_status"] in statuses and r["order_id"] not in TAKEN]
    TAKEN.add(candidates[0])
    return candidates[0]


TAKEN: set[int] = set()  # Cartum orders a test changed: the others pick different ones


def check_cartum_new(found: dict) -> None:
    assert found["stat_status"] == 1  # New: open
    assert found["currency"] == "EUR"
    assert found["products"] and all(line["article"] for line in found["products"])
    assert found["delivery_name"] and found["delivery_phone"] and "@" in found["delivery_email"]


def test_cartum_quantity_plus_one_changes_the_first_line_and_the_total(shops):
    sim = shops["cartum"]
    order_id = cartum_with(sim, (1, 2, 6, 8))
    before = order(sim, order_id)
    line = before["products"][0]

    message = done(sim, "quantity", order_id)

    after = order(sim, order_id)
    assert after["products"][0]["quantity"] == line["quantity"] + 1
    unit = line["total_price"] / line["quantity"]
    assert after["total_sum"] == pytest.approx(before["total_sum"] + unit, abs=0.01)
    assert cartum_api(sim, order_id)["products"][0]["quantity"] == line["quantity"] + 1
    assert message.startswith(f"Order {order_id}: ") and f"{line['quantity']} → {line['quantity'] + 1}" in message


def test_cartum_next_status_cycles_processing_and_paid_only(shops):
    sim = shops["cartum"]
    new, delivered = cartum_with(sim, (1,)), cartum_with(sim, (3,))

    assert done(sim, "status", new) == f"Order {new}: status New → Processing."
    assert order(sim, new)["stat_status"] == 2
    assert done(sim, "status", new) == f"Order {new}: status Processing → Paid."
    assert cartum_api(sim, new)["stat_status"] == 8
    done(sim, "status", new)
    assert order(sim, new)["stat_status"] == 2

    refused = press(sim, "status", delivered)
    assert refused.status_code == 409
    assert "Delivered, a closed status" in refused.text
    assert order(sim, delivered)["stat_status"] == 3


def test_cartum_change_delivery_sets_a_new_delivery_price(shops):
    sim = shops["cartum"]
    order_id = cartum_with(sim, (1, 2, 6, 8))
    before = order(sim, order_id)["delivery_price"]

    message = done(sim, "delivery", order_id)

    after = order(sim, order_id)["delivery_price"]
    assert after != before and after in (0, 50, 80, 120)
    assert cartum_api(sim, order_id)["delivery_price"] == after
    assert f"delivery price {before} → {after} EUR" in message


# ---------------------------------------------------------------------------------------------
# Shopify
# ---------------------------------------------------------------------------------------------


def shopify_api(sim, order_id: int) -> dict:
    response = requests.get(f"{sim.url}{SHOPIFY_API}/orders/{order_id}.json",
                            headers={"X-Shopify-Access-Token": "shpat_simulator"}, timeout=10)
    return response.json()["order"]


def shopify_open(sim, skip: int) -> int:
    """The ``skip``-th open seeded order with a line (tests use different ones)."""
    rows = [r["id"] for r in summaries("shopify", sim) if not (r["cancelled_at"] or r["closed_at"])]
    with_lines = [i for i in rows if order(sim, i)["line_items"]]
    return with_lines[-1 - skip]  # the oldest: never the ones other tests add


def check_shopify_new(found: dict) -> None:
    assert found["financial_status"] == "paid" and found["fulfillment_status"] is None
    assert not found["cancelled_at"] and not found["closed_at"]
    assert found["currency"] == "EUR"
    assert found["line_items"] and all(line["product_id"] for line in found["line_items"])
    customer = found["customer"]
    assert customer["phone"] and "@" in customer["email"]


def test_shopify_has_no_status_button(shops):
    sim = shops["shopify"]
    assert "Next status" not in page(sim)
    assert press(sim, "status", shopify_open(sim, 0)).status_code == 404


def test_shopify_quantity_plus_one_is_an_order_edit_seen_by_the_api(shops):
    sim = shops["shopify"]
    order_id = shopify_open(sim, 1)
    before = order(sim, order_id)
    line = before["line_items"][0]

    done(sim, "quantity", order_id)

    after = order(sim, order_id)
    assert after["line_items"][0]["current_quantity"] == line["current_quantity"] + 1
    assert after["updated_at"] > before["updated_at"]  # what Orderdock's sync asks for
    api = shopify_api(sim, order_id)
    assert api["line_items"][0]["current_quantity"] == line["current_quantity"] + 1
    assert api["current_total_price"] != before["current_total_price"]


def test_shopify_change_delivery_switches_the_shipping_rate(shops):
    sim = shops["shopify"]
    order_id = shopify_open(sim, 2)
    before = order(sim, order_id)
    old = before["shipping_lines"][0] if before["shipping_lines"] else {"title": None, "price": None}

    message = done(sim, "delivery", order_id)

    line = shopify_api(sim, order_id)["shipping_lines"][0]
    assert (line["title"], line["price"]) != (old["title"], old["price"])
    assert f"→ {line['title']} {line['price']}" in message
    assert order(sim, order_id)["updated_at"] > before["updated_at"]


# ---------------------------------------------------------------------------------------------
# WooCommerce
# ---------------------------------------------------------------------------------------------


def woocommerce_api(sim, order_id: int) -> dict:
    response = requests.get(f"{sim.url}/wp-json/wc/v3/orders/{order_id}", timeout=10,
                            params={"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET})
    return response.json()


def woocommerce_with(sim, status: str, skip: int = 0) -> int:
    rows = [r["id"] for r in summaries("woocommerce", sim) if r["status"] == status]
    with_lines = [i for i in rows if order(sim, i)["line_items"]]
    return with_lines[skip]  # the oldest first: never the ones other tests add


def check_woocommerce_new(found: dict) -> None:
    assert found["status"] == "processing"
    assert found["currency"] == "EUR"
    assert found["line_items"] and all(line["product_id"] for line in found["line_items"])
    assert found["billing"]["phone"] and "@" in found["billing"]["email"]


def test_woocommerce_has_no_delivery_button(shops):
    sim = shops["woocommerce"]
    assert "Change delivery" not in page(sim)
    assert press(sim, "delivery", woocommerce_with(sim, "processing")).status_code == 404


def test_woocommerce_quantity_plus_one_recomputes_the_totals(shops):
    sim = shops["woocommerce"]
    order_id = woocommerce_with(sim, "processing", skip=1)
    before = order(sim, order_id)
    line = before["line_items"][0]

    done(sim, "quantity", order_id)

    api = woocommerce_api(sim, order_id)
    assert api["line_items"][0]["quantity"] == line["quantity"] + 1
    assert float(api["total"]) > float(before["total"])
    assert api["date_modified_gmt"] > before["date_modified_gmt"]  # what Orderdock's sync asks for


def test_woocommerce_next_status_cycles_processing_and_on_hold_only(shops):
    sim = shops["woocommerce"]
    order_id, completed = woocommerce_with(sim, "processing", skip=2), woocommerce_with(sim, "completed")

    assert done(sim, "status", order_id) == f"Order {order_id}: status processing → on-hold."
    assert woocommerce_api(sim, order_id)["status"] == "on-hold"
    done(sim, "status", order_id)
    assert order(sim, order_id)["status"] == "processing"

    refused = press(sim, "status", completed)
    assert refused.status_code == 409
    assert order(sim, completed)["status"] == "completed"


CHECK_NEW = {"cartum": check_cartum_new, "shopify": check_shopify_new, "woocommerce": check_woocommerce_new}
API_ORDER = {"cartum": cartum_api, "shopify": shopify_api, "woocommerce": woocommerce_api}
