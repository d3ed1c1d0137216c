"""Shopify JSON -> normalized records, on the official sample payloads and on edge cases.

The samples are the shopify.dev / official-client examples in ../shared/platforms/fixtures/shopify
(SOURCES.txt names their origin); those tests skip when that folder is absent.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from webapp.platforms.base import Rejected, RemoteBuyer
from webapp.platforms.http import PlatformHttp
from webapp.platforms.shopify import RULES, ShopifyPlatform, mapping
from webapp.platforms.shopify.client import (
    call_limit, checked_version, drain_wait, error_text, link_params,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT.parent / "shared" / "platforms" / "fixtures" / "shopify"
MISSING = f"Shopify sample payloads not found in {FIXTURES} (they live in the shared research folder)"
UTC = timezone.utc


def sample_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []


def orders_in(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    if isinstance(data, dict) and isinstance(data.get("orders"), list):
        return data["orders"]
    return [data["order"]] if isinstance(data, dict) and isinstance(data.get("order"), dict) else []


def order_samples():
    cases = [pytest.param(path, order, id=f"{path.stem}[{i}]")
             for path in sample_files() for i, order in enumerate(orders_in(path))]
    return cases or [pytest.param(None, None, marks=pytest.mark.skip(reason=MISSING))]


def load(name: str) -> dict:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(MISSING)
    return orders_in(path)[0]


BOB_2024 = dict(number="#1001", created=datetime(2008, 1, 10, 16, 0, tzinfo=UTC), status="partially_refunded",
                skus=("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"), quantities=(0, 1, 0),
                total=Decimal("199.00"), phone="+16136120707", email="bob.norman@mail.example.com",
                delivery=("Free Shipping", Decimal("0.00")))
# Values read by hand from each sample. python_api_order.json's own total_line_items_price (398.00)
# disagrees with its three lines of 1 x 199.00; the lines are what we import (R-ORD-6).
EXPECTED = {
    "js2404_order_test_1_get_2024_04_orders_json_status_any.json": BOB_2024,
    "js2404_order_test_8_get_2024_04_orders_450789469_json.json": BOB_2024,
    "python_api_order.json": dict(
        number="#1001", created=datetime(2008, 1, 10, 16, 0, tzinfo=UTC), status="authorized",
        skus=("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"), quantities=(1, 1, 1),
        total=Decimal("597.00"), phone="555-625-1199", email="bob.norman@hostmail.com",
        delivery=("Free Shipping", Decimal("0.00"))),
    "python_api_orders.json": dict(
        number="#1001", created=datetime(2008, 1, 10, 16, 0, tzinfo=UTC), status="partially_refunded",
        skus=(), quantities=(), total=Decimal("0.00"), phone="+16136120707",
        email="bob.norman@hostmail.com", delivery=(None, None)),
}


# --- every sample order ---------------------------------------------------------------------

@pytest.mark.parametrize("path, raw", order_samples())
def test_every_sample_order_maps_with_its_items_times_and_ids(path, raw):
    order = mapping.order_from_json(raw)
    assert order.external_id == str(raw["id"]) and order.currency == raw["currency"]
    assert order.created_at == datetime.fromisoformat(raw["created_at"]).astimezone(UTC)
    assert order.updated_at == datetime.fromisoformat(raw["updated_at"]).astimezone(UTC)
    lines = raw.get("line_items") or []
    assert [i.sku for i in order.items] == [line["sku"] for line in lines]
    assert [i.product_id for i in order.items] == [str(line["product_id"]) for line in lines]
    assert [i.line_id for i in order.items] == [str(line["id"]) for line in lines]
    expected_total = sum((Decimal(line["price"]) * (line["quantity"] if line.get("current_quantity") is None
                                                     else line["current_quantity"]) for line in lines),
                         Decimal("0"))
    assert order.total == expected_total
    assert order.status_id in {s.id for s in mapping.STATUSES}
    assert order.raw is raw


@pytest.mark.parametrize("path, raw", order_samples())
def test_every_sample_order_matches_the_values_read_by_hand(path, raw):
    assert path.name in EXPECTED, f"{path.name} is a new sample: add its expected values"
    want, order = EXPECTED[path.name], mapping.order_from_json(raw)
    assert (order.number, order.created_at, order.status_id) == (want["number"], want["created"], want["status"])
    assert tuple(i.sku for i in order.items) == want["skus"]
    assert tuple(i.quantity for i in order.items) == want["quantities"]
    assert order.total == want["total"]
    assert (order.buyer.phone, order.buyer.email) == (want["phone"], want["email"])
    assert (order.buyer.first_name, order.buyer.last_name) == ("Bob", "Norman")
    method, cost = want["delivery"]
    if method is None:  # R-DEL-1: an address without a shipping line is no delivery to describe
        assert order.delivery is None and raw["shipping_address"]
        return
    assert (order.delivery.method_name, order.delivery.cost) == (method, cost)
    assert order.delivery.is_own_method  # "source": "shopify", no carrier_identifier
    assert "Chestnut Street 92, Louisville, Kentucky, 40202, United States" in order.delivery.recipient_address
    assert order.delivery.recipient_address.startswith("Bob Norman, ")


def test_R_IMP_4_current_quantity_is_the_quantity_after_edits_and_refunds():
    raw = load("js2404_order_test_1_get_2024_04_orders_json_status_any.json")
    order = mapping.order_from_json(raw)
    # Shopify's own figure for what is left: current subtotal + current discounts.
    assert order.total == Decimal(raw["current_subtotal_price"]) + Decimal(raw["current_total_discounts"])
    assert [i.name for i in order.items][0] == "IPod Nano - 8gb - green"


def test_R_PRD_3_sample_product_gives_plain_text_description_and_category():
    path = FIXTURES / "js2404_product_test_9_get_2024_04_products_632910392_json.json"
    if not path.is_file():
        pytest.skip(MISSING)
    info = mapping.product_info(json.loads(path.read_text())["product"])
    assert info.category == "Cult Products"
    assert info.description.startswith("It's the small iPod with one very big idea: Video.")
    assert "<" not in info.description and info.description.endswith("little speaks volumes.")
    raw = load("js2404_order_test_1_get_2024_04_orders_json_status_any.json")
    item = mapping.order_from_json(raw, {"632910392": info}).items[0]
    assert (item.description, item.category_path) == (info.description, ("Cult Products",))
    assert item.product_id == "632910392"


# --- R-CLI-3: withheld customer data --------------------------------------------------------

WITHHELD_CUSTOMER = ("first_name", "last_name", "email", "phone", "default_address")
WITHHELD_ORDER = ("email", "contact_email", "phone", "billing_address", "shipping_address")


def withheld(raw: dict, form: str) -> dict:
    order = copy.deepcopy(raw)
    for target, keys in ((order, WITHHELD_ORDER), (order["customer"], WITHHELD_CUSTOMER)):
        for key in keys:
            if form == "missing":
                target.pop(key, None)
            elif form == "null":
                target[key] = None
            elif isinstance(target.get(key), dict):
                target[key] = {k: "" for k in target[key]}
            else:
                target[key] = ""
    return order


@pytest.fixture
def bob() -> dict:
    return load("js2404_order_test_1_get_2024_04_orders_json_status_any.json")


@pytest.mark.parametrize("form", ["null", "missing", "empty"])
def test_R_CLI_3_withheld_customer_data_null_missing_or_empty_gives_no_buyer(bob, form):
    order = mapping.order_from_json(withheld(bob, form))
    assert order.buyer is None  # the client becomes "Not specified"
    assert order.items and order.total == Decimal("199.00")
    assert order.delivery.method_name == "Free Shipping" and order.delivery.recipient_address == ""


def test_R_CLI_3_withheld_forms_map_identically(bob):
    orders = [mapping.order_from_json(withheld(bob, form)) for form in ("null", "missing", "empty")]
    assert orders[0] == orders[1] == orders[2]


@pytest.mark.parametrize("customer", [None, "absent", "", []])
def test_R_CLI_3_no_customer_object_at_all_falls_back_to_the_order_contacts(bob, customer):
    raw = copy.deepcopy(bob)
    if customer == "absent":
        del raw["customer"]
    else:
        raw["customer"] = customer
    buyer = mapping.order_from_json(raw).buyer
    # Order-level phone first, then the billing address's; names from the billing address.
    assert (buyer.first_name, buyer.last_name, buyer.phone, buyer.email) == (
        "Bob", "Norman", "+557734881234", "bob.norman@mail.example.com")


def test_R_CLI_3_buyer_keeps_the_shipping_address(bob):
    assert mapping.order_from_json(bob).buyer.address == (
        "Chestnut Street 92, Louisville, Kentucky, 40202, United States")


def test_R_CLI_3_address_falls_back_to_the_customers_default_address(bob):
    raw = copy.deepcopy(bob)
    raw["shipping_address"] = None
    raw["customer"]["default_address"]["address1"] = "Default Road 1"
    assert mapping.order_from_json(raw).buyer.address.startswith("Default Road 1, Louisville")


def test_R_IMP_5_guest_with_only_a_name_is_a_buyer_without_contact():
    raw = {"id": 1, "created_at": "2026-04-01T10:00:00+02:00", "currency": "EUR",
           "customer": None, "email": "", "phone": None,
           "shipping_address": {"first_name": "Olena", "last_name": "", "address1": "Main St 1"}}
    buyer = mapping.order_from_json(raw).buyer
    assert buyer.first_name == "Olena" and not buyer.has_contact and buyer.address == "Main St 1"


# --- status derivation ----------------------------------------------------------------------

@pytest.mark.parametrize("cancelled, financial, fulfillment, expected", [
    ("2026-04-01T10:00:00Z", "refunded", "fulfilled", "cancelled"),
    ("2026-04-01T10:00:00Z", "voided", None, "cancelled"),
    (None, "refunded", None, "refunded"),
    (None, "refunded", "restocked", "refunded"),
    (None, "paid", "fulfilled", "fulfilled"),
    (None, "partially_refunded", "fulfilled", "fulfilled"),
    (None, "paid", "partial", "partially_fulfilled"),
    (None, "partially_refunded", None, "partially_refunded"),
    (None, "paid", None, "paid"),
    (None, "pending", None, "pending"),
    (None, "authorized", "", "authorized"),
    (None, "partially_paid", None, "partially_paid"),
    (None, "voided", None, "voided"),
    (None, "expired", None, "open"),
    ("", None, None, "open"),
])
def test_derived_status(cancelled, financial, fulfillment, expected):
    raw = {"cancelled_at": cancelled, "financial_status": financial, "fulfillment_status": fulfillment}
    assert mapping.derive_status(raw) == expected


def test_R_IMP_2_excluded_statuses_are_fulfilled_canceled_refunded_and_listed():
    ids = {s.id for s in mapping.STATUSES}
    assert RULES.excluded_initial_statuses == {"fulfilled", "cancelled", "refunded"}
    assert RULES.excluded_initial_statuses <= ids and len(ids) == len(mapping.STATUSES)


# --- items and delivery edge cases ----------------------------------------------------------

def test_R_PRD_1_line_of_a_deleted_product_still_maps():
    line = {"id": 9, "product_id": None, "variant_id": None, "sku": None, "title": "Gift wrapping",
            "name": "", "quantity": 2, "price": "2.50", "product_exists": False}
    item = mapping.item_from_json(line, {"": mapping.ProductInfo("x", "y")})
    assert (item.product_id, item.sku, item.name, item.line_total) == ("", "", "Gift wrapping", Decimal("5.00"))
    assert item.description == "" and item.category_path == ()


def test_R_DEL_1_delivery_sums_lines_and_flags_carrier_rates():
    raw = {"shipping_lines": [{"title": "DHL", "price": "5.49", "carrier_identifier": "abc"},
                              {"title": "", "code": "EXTRA", "price": "1.00", "carrier_identifier": None}],
           "shipping_address": {"name": "Anna Schmidt", "address1": "Hauptstraße 5", "city": "Berlin",
                                "zip": "10115", "country": "Germany"}}
    delivery = mapping.delivery_from_json(raw)
    assert (delivery.method_name, delivery.cost, delivery.is_own_method) == ("DHL, EXTRA", Decimal("6.49"), False)
    assert delivery.recipient_address == "Anna Schmidt, Hauptstraße 5, Berlin, 10115, Germany"
    assert mapping.delivery_from_json({"shipping_lines": [], "shipping_address": None}) is None
    # R-DEL-1: an address without a shipping line (a manual order) is no delivery to describe
    assert mapping.delivery_from_json({"shipping_lines": [], "shipping_address": raw["shipping_address"]}) is None


def test_html_to_text():
    html = ('<p>Fast&nbsp;<b>USB-C</b> &amp; more</p><script>alert(1)</script>'
            '<ul><li>1 m</li><li>2 m</li></ul>text<br>next')
    assert mapping.html_to_text(html) == "Fast USB-C & more\n- 1 m\n- 2 m\ntext\nnext"
    assert mapping.html_to_text(None) == "" and mapping.html_to_text("") == ""


def test_order_without_updated_at_uses_created_at():
    order = mapping.order_from_json({"id": 5, "created_at": "2026-04-01T10:00:00+02:00", "currency": "eur"})
    assert order.updated_at == order.created_at == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert (order.number, order.currency, order.buyer, order.delivery, order.items) == ("5", "EUR", None, None, ())


def test_buyer_repr_shows_no_personal_data(bob):
    buyer = mapping.buyer_from_json(bob)
    assert isinstance(buyer, RemoteBuyer) and "Bob" not in repr(buyer) and "+1613" not in repr(buyer)


# --- the client's pure helpers --------------------------------------------------------------

def test_link_header_keeps_only_the_query_of_each_link():
    header = ('<https://shop.myshopify.com/admin/api/2026-07/orders.json?page_info=abc&limit=250>; rel="previous", '
              '<https://elsewhere.example/admin/api/2026-07/orders.json?page_info=def%3D&limit=250&fields=id%2Cname>; '
              'rel="next"')
    assert link_params(header) == {"previous": {"page_info": "abc", "limit": "250"},
                                   "next": {"page_info": "def=", "limit": "250", "fields": "id,name"}}
    assert link_params(None) == {} and link_params("") == {}


def test_call_limit_header_and_drain_wait():
    class R:
        headers = {"X-Shopify-Shop-Api-Call-Limit": "34/40"}
    assert call_limit(R()) == (34, 40)
    assert drain_wait(10, 40) == 0 and drain_wait(34, 40) == pytest.approx(1.5)
    assert drain_wait(400, 400) == pytest.approx(4.05)  # Plus: 400 at 20/s


def test_error_envelopes_flatten_to_one_line():
    class R:
        def __init__(self, body):
            self.body = body

        def json(self):
            return self.body
    assert error_text(R({"errors": "Not Found"})) == "Not Found"
    assert error_text(R({"errors": {"status": ["status cannot be passed when page_info is present."]}})) == (
        "status: status cannot be passed when page_info is present.")
    assert error_text(R({"error": "invalid_client", "error_description": "bad"})) == "bad"
    assert error_text(R(["x"])) == ""


def test_api_version_option_is_checked():
    assert checked_version(None) == checked_version("") == "2026-07"
    assert checked_version("2025-10") == "2025-10"
    for bad in ("2025-11", "latest", "../2025-10", "2025-10/x"):
        with pytest.raises(Exception, match="api_version"):
            checked_version(bad)


# --- the adapter's offline parts ------------------------------------------------------------

@pytest.fixture
def adapter():
    return ShopifyPlatform("my-shop.myshopify.com", {"access_token": "shpat_x"}, {}, PlatformHttp(None))


def test_R_STA_4_push_status_is_refused(adapter):
    assert RULES.statuses_out is False and RULES.statuses_in is False
    with pytest.raises(Rejected, match="R-STA-4"):
        adapter.push_status("1", "paid")


def test_urls_and_rules(adapter):
    assert adapter.order_url("450789469") == "https://my-shop.myshopify.com/admin/orders/450789469"
    assert adapter.orders_url() == "https://my-shop.myshopify.com/admin/orders"
    assert (adapter.name, adapter.title, adapter.RATE) == ("shopify", "Shopify", "2/second")
    assert RULES.match_fields("sku") == ("sku", "sku") and RULES.match_fields("id") == ("product_id", "code")
    assert [f.name for f in RULES.credential_fields] == ["access_token", "client_id", "client_secret"]
    assert [f.secret for f in RULES.credential_fields] == [True, False, True]
    assert {s.id for s in adapter.statuses()} == {s.id for s in mapping.STATUSES}
    assert "shpat_x" not in repr(adapter)


# --- the shop's own total (R-REL-4: shown beside ours when they differ) ---------------------

SHOP_TOTALS = {  # read by hand: current_total_price where the sample has it, else total_price
    "js2404_order_test_1_get_2024_04_orders_json_status_any.json": Decimal("199.65"),
    "js2404_order_test_8_get_2024_04_orders_450789469_json.json": Decimal("199.65"),
    "python_api_order.json": Decimal("409.94"),
    "python_api_orders.json": Decimal("598.94"),
}


@pytest.mark.parametrize("name", sorted(SHOP_TOTALS))
def test_R_REL_4_the_shops_total_is_current_total_price_else_total_price(name):
    order = mapping.order_from_json(load(name))
    assert order.platform_total == SHOP_TOTALS[name]


def test_R_REL_4_an_order_without_totals_has_no_shops_total():
    raw = copy.deepcopy(load("python_api_order.json"))
    raw.pop("total_price")
    assert mapping.order_from_json(raw).platform_total is None
    raw["current_total_price"] = "12.50"
    assert mapping.order_from_json(raw).platform_total == Decimal("12.50")
