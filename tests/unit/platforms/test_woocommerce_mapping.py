"""WooCommerce JSON -> normalized records, on the official docs' sample payloads and on cases
written here (category choice R-PRD-6, phone source R-CLI-4, guests R-IMP-5)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from webapp.platforms.woocommerce import RULES, WooCommercePlatform
from webapp.platforms.woocommerce import mapping
from webapp.platforms.woocommerce.mapping import choose_category

UTC = timezone.utc
FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "platforms" / "fixtures" / "woocommerce"


def fixture(name: str):
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent: the official WooCommerce sample payloads live outside "
                    "this repository (../shared/platforms/fixtures)")
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sample_orders() -> list[dict]:
    orders = []
    for name in ("docs_orders_01_retrieve_an_order.json", "docs_orders_02_list_all_orders.json",
                 "docs_orders_03_update_an_order.json"):
        data = fixture(name)
        orders += data if isinstance(data, list) else [data]
    return orders


def order(**changes) -> dict:
    base = {"id": 42, "number": "42", "status": "processing", "currency": "eur",
            "date_created": "2026-04-15T13:30:00", "date_created_gmt": "2026-04-15T10:30:00",
            "date_modified": "2026-04-15T14:00:00", "date_modified_gmt": "2026-04-15T11:00:00",
            "billing": {"first_name": "Olena", "last_name": "Kovalenko", "email": "olena@example.com",
                        "phone": "+380 67 123-45-67"},
            "shipping": {"first_name": "Olena", "last_name": "Kovalenko", "phone": ""},
            "line_items": [{"id": 1, "name": "Mug", "product_id": 7, "variation_id": 0, "quantity": 2,
                            "total": "10.00", "sku": "MUG", "price": 5}],
            "shipping_lines": [{"id": 9, "method_id": "flat_rate", "total": "5.00"}]}
    return base | changes


# --- the official sample payloads --------------------------------------------------------------

EXPECTED = {  # id -> (created UTC, modified UTC, phone, e-mail, [(sku, product_id, qty, price, total)])
    727: (datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC), None, "(555) 555-5555", "john.doe@example.com",
          [("", "93", "2", "3", "6.00"), ("Bar3", "23", "1", "12", "12.00")]),
    723: (datetime(2017, 3, 21, 19, 16, tzinfo=UTC), datetime(2017, 3, 21, 19, 54, 51, tzinfo=UTC),
          "(11) 1111-1111", "joao.silva@example.com", [("", "87", "1", "9", "9.00"), ("", "34", "1", "20", "20.00")]),
}


def test_every_sample_order_maps_to_checked_records():
    samples = sample_orders()
    assert len(samples) == 4
    for raw in samples:
        mapped = mapping.map_order(raw)
        created, modified, phone, email, lines = EXPECTED[raw["id"]]
        assert mapped.external_id == str(raw["id"]) and mapped.number == raw["number"]
        # *_gmt is UTC; the offset-less date_created is the shop's local time and must not be used.
        assert mapped.created_at == created and mapped.created_at.tzinfo is UTC
        assert mapped.updated_at == mapping.gmt_time(raw, "date_modified")
        if modified:
            assert mapped.updated_at == modified
        assert mapped.status_id == raw["status"] and mapped.currency == "USD"
        assert (mapped.buyer.phone, mapped.buyer.email) == (phone, email)
        cent = Decimal("0.01")
        got = [(i.sku, i.product_id, str(i.quantity), str(i.price), str(i.line_total.quantize(cent)))
               for i in mapped.items]
        assert got == lines
        for item, line in zip(mapped.items, raw["line_items"]):
            assert item.line_total == Decimal(line["total"])  # price x quantity = the line's total
        assert mapped.total == sum(Decimal(line["total"]) for line in raw["line_items"])
        assert mapped.delivery is None and mapped.raw["shipping_lines"]  # R-DEL-4: kept in raw only


def test_sample_order_727_in_detail():
    mapped = mapping.map_order(fixture("docs_orders_01_retrieve_an_order.json"))
    assert mapped.total == Decimal("18.00")  # items only: shipping and tax are not order lines
    assert (mapped.buyer.first_name, mapped.buyer.last_name) == ("John", "Doe")
    variation = mapped.items[1]
    assert variation.name == "Ship Your Idea \u2013 Color: Black, Size: M Test"  # &ndash; decoded
    assert (variation.line_id, variation.product_id, variation.sku) == ("316", "23", "Bar3")


def test_R_PRD_6_sample_product_and_category_tree():
    paths = mapping.category_paths(fixture("docs_product_categories_02_list_all_product_categories.json"))
    assert paths[10] == ("Clothing", "Hoodies") and paths[15] == ("Music", "Albums") and paths[12] == ("Posters",)
    product = fixture("docs_products_02_retrieve_a_product.json")
    categories = mapping.product_categories(product, paths)
    assert categories == (("Clothing",), ("Clothing", "T-shirts"))
    assert choose_category(categories) == ("Clothing", "T-shirts")
    line = {"id": 1, "name": product["name"], "product_id": product["id"], "quantity": 1, "price": 20,
            "sku": product["sku"]}
    item = mapping.map_item(line, {product["id"]: product}, paths)
    assert item.categories == categories and item.category_path == ("Clothing", "T-shirts")
    assert item.description.startswith("Pellentesque habitant") and "<" not in item.description


def test_sample_error_bodies_have_the_envelope_the_client_reads():
    for name in ("docs_errors_00_errors.json", "docs_errors_01_errors.json"):
        body = fixture(name)
        assert set(body) == {"code", "message", "data"} and body["data"]["status"] == 404


# --- R-PRD-6 category choice ------------------------------------------------------------------


def test_R_PRD_6_one_chain_takes_the_deepest_level():
    assert choose_category([("Phones",), ("Phones", "Smartphones"), ("Phones", "Smartphones", "Android")]) \
        == ("Phones", "Smartphones", "Android")
    assert choose_category([("Phones", "Smartphones")]) == ("Phones", "Smartphones")


def test_R_PRD_6_several_on_the_same_level_take_the_alphabetically_first():
    assert choose_category([("Phones", "Chargers"), ("Phones", "Cases")]) == ("Phones", "Cases")
    assert choose_category([("Spare parts", "Screens"), ("Phones", "accessories")]) == ("Phones", "accessories")
    assert choose_category([("b",), ("A",), ("c",)]) == ("A",)  # case does not decide


def test_R_PRD_6_different_levels_take_the_more_general():
    assert choose_category([("Spare parts", "Screens"), ("Sale",)]) == ("Sale",)
    assert choose_category([("Laptops", "Ultrabooks"), ("Sale",), ("Gifts",)]) == ("Gifts",)


def test_R_PRD_6_a_ticked_parent_does_not_beat_its_own_child():
    # Clothing > Hoodies is one chain (-> Hoodies, level 2); Music is level 1: more general.
    assert choose_category([("Clothing",), ("Clothing", "Hoodies"), ("Music",)]) == ("Music",)
    assert choose_category([("Clothing",), ("Clothing", "Hoodies"), ("Music", "Albums")]) == ("Music", "Albums")


def test_R_PRD_6_no_categories_and_duplicates():
    assert choose_category([]) == ()
    assert choose_category([(), ("",)]) == ()
    assert choose_category([("Sale",), ("Sale",)]) == ("Sale",)


def test_category_tree_survives_missing_parents_and_loops():
    paths = mapping.category_paths([{"id": 1, "name": "A", "parent": 2}, {"id": 2, "name": "B", "parent": 1},
                                    {"id": 3, "name": "C &amp; D", "parent": 99}])
    assert paths[1] == ("B", "A") and paths[2] == ("A", "B") and paths[3] == ("C & D",)


def test_product_categories_fall_back_to_the_name_when_the_tree_lacks_one():
    product = {"categories": [{"id": 5, "name": "New"}, {"id": 9, "name": "Hoodies"}]}
    assert mapping.product_categories(product, {9: ("Clothing", "Hoodies")}) == (("New",), ("Clothing", "Hoodies"))
    assert mapping.product_categories(None, {}) == ()


# --- R-CLI-4 / R-IMP-5 buyers -----------------------------------------------------------------


def test_R_CLI_4_phone_from_billing_or_else_from_shipping():
    billing_only = mapping.map_buyer(order())
    assert billing_only.phone == "+380 67 123-45-67"
    shipping_only = mapping.map_buyer(order(billing={"first_name": "Olena", "email": "o@example.com", "phone": ""},
                                            shipping={"phone": "380671234567"}))
    assert shipping_only.phone == "380671234567" and shipping_only.email == "o@example.com"
    both = mapping.map_buyer(order(shipping={"phone": "+49 30 1234567"}))
    assert both.phone == "+380 67 123-45-67"  # billing is the payer, our client


def test_R_CLI_4_names_come_from_shipping_when_billing_has_none():
    buyer = mapping.map_buyer(order(billing={"email": "a@example.com"},
                                    shipping={"first_name": "Taras", "last_name": "Shevchenko",
                                              "phone": "0671234567"}))
    assert (buyer.first_name, buyer.last_name, buyer.phone) == ("Taras", "Shevchenko", "0671234567")


def test_R_IMP_5_guest_without_any_detail_has_no_buyer_and_name_only_has_no_contact():
    guest = order(billing={"first_name": "", "last_name": "", "email": None, "phone": ""}, shipping={})
    assert mapping.map_order(guest).buyer is None
    named = mapping.map_buyer(order(billing={"first_name": "Anna", "email": "", "phone": ""}, shipping={}))
    assert named is not None and not named.has_contact
    email_only = mapping.map_buyer(order(billing={"email": "anna@example.com", "phone": None}, shipping=None))
    assert email_only.has_contact and email_only.phone == ""


# --- order details ----------------------------------------------------------------------------


def test_unknown_status_is_kept_and_drafts_are_recognised():
    assert mapping.map_order(order(status="refund-requested")).status_id == "refund-requested"
    assert mapping.is_draft(order(status="checkout-draft")) and not mapping.is_draft(order())


def test_times_use_gmt_fields_and_fall_back_to_local_in_the_store_zone():
    mapped = mapping.map_order(order())
    assert mapped.created_at == datetime(2026, 4, 15, 10, 30, tzinfo=UTC)
    local_only = order(date_created_gmt=None, date_modified_gmt=None, date_modified=None)
    mapped = mapping.map_order(local_only, zone="Europe/Kyiv")
    assert mapped.created_at == mapped.updated_at == datetime(2026, 4, 15, 10, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        mapping.map_order(order(date_created_gmt=None, date_created=None))


def test_line_price_number_float_and_missing_price():
    lines = [{"id": 1, "name": "Third", "product_id": 7, "quantity": 3, "total": "10.00",
              "price": 3.3333333333333335},
             {"id": 2, "name": "Old", "product_id": 8, "quantity": 4, "total": "10.00"},
             {"id": 3, "name": "Gone", "product_id": 0, "variation_id": 0, "quantity": 1, "total": "2.99",
              "price": 2.99, "sku": None}]
    mapped = mapping.map_order(order(line_items=lines))
    assert mapped.items[0].price == Decimal("3.3333333333333335")
    assert mapped.items[1].price == Decimal("2.5")
    gone = mapped.items[2]
    assert (gone.product_id, gone.sku, gone.price) == ("", "", Decimal("2.99"))  # deleted product
    assert mapped.total == Decimal("22.99")


def test_products_give_description_and_categories_and_variations_their_own_id():
    product = {"id": 7, "short_description": "<p>Big &amp; <b>blue</b></p>", "description": "<p>long</p>",
               "categories": [{"id": 2, "name": "Cups"}]}
    line = {"id": 1, "name": "Mug &ndash; Blue", "product_id": 7, "variation_id": 71, "quantity": 1,
            "price": 5, "sku": "MUG-BLUE"}
    item = mapping.map_item(line, {7: product}, {2: ("Kitchen", "Cups")})
    assert (item.product_id, item.sku, item.name) == ("71", "MUG-BLUE", "Mug \u2013 Blue")
    assert item.description == "Big & blue" and item.category_path == ("Kitchen", "Cups")
    assert mapping.product_ids([order(line_items=[line, {"product_id": 0}])]) == {7}


def test_statuses_from_the_report_keep_custom_ones_drop_drafts_and_add_trash():
    rows = [{"slug": "pending", "name": "Pending payment", "total": 1},
            {"slug": "checkout-draft", "name": "Draft", "total": 0},
            {"slug": "awaiting-shipment", "name": "Awaiting shipment", "total": 3}]
    ids = [s.id for s in mapping.statuses_from_report(rows)]
    assert ids[:2] == ["pending", "awaiting-shipment"] and "checkout-draft" not in ids
    assert set(ids) >= {"processing", "completed", "trash"}
    assert [s.id for s in mapping.statuses_from_report(None)] == [
        "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"]


def test_gmt_text_is_what_woocommerce_reads():
    assert mapping.gmt_text(datetime(2026, 4, 15, 12, 30, 5, 999, tzinfo=timezone.utc)) == "2026-04-15T12:30:05"


# --- rules ------------------------------------------------------------------------------------


def test_rules_state_woocommerces_differences():
    assert RULES.excluded_initial_statuses == {"completed", "cancelled", "refunded", "failed", "trash"}  # R-IMP-2
    assert RULES.completed_needs_write_off == {"completed"} and RULES.statuses_out  # R-STA-3
    assert not RULES.delivery_transferred  # R-DEL-4
    assert RULES.skip_without_items and RULES.skip_without_contact  # R-IMP-5
    assert RULES.client_match_keys == ("phone", "email")  # R-CLI-2
    assert RULES.match_fields("id") == ("product_id", "code") and RULES.match_fields("sku") == ("sku", "sku")
    assert [f.name for f in RULES.credential_fields] == ["consumer_key", "consumer_secret"]
    assert [f.secret for f in RULES.credential_fields] == [False, True]
    assert (WooCommercePlatform.name, WooCommercePlatform.title) == ("woocommerce", "WooCommerce")


# --- the shop's own total (R-REL-4: shown beside ours when they differ) ---------------------


def test_R_REL_4_the_shops_total_is_the_orders_total_with_shipping_and_tax():
    totals = {raw["id"]: mapping.map_order(raw).platform_total for raw in sample_orders()}
    assert totals == {727: Decimal("29.35"), 723: Decimal("39.00")}
    # 727: items 18.00 + shipping 10.00 + tax 1.35, so it differs from ours (R-ORD-6)
    assert mapping.map_order(fixture("docs_orders_01_retrieve_an_order.json")).total == Decimal("18.00")


def test_R_REL_4_an_order_without_a_total_has_no_shops_total():
    raw = fixture("docs_orders_01_retrieve_an_order.json")
    raw.pop("total")
    assert mapping.map_order(raw).platform_total is None
