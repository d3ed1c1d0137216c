"""The pure decisions of the import: category choice, product keys and fields, client fields,
delivery comments and the reasons an order is kept out (no database, no network)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from webapp.models import PIECE
from webapp.platforms.base import RemoteBuyer, RemoteDelivery, RemoteItem, RemoteOrder
from webapp.platforms.cartum import RULES as CARTUM
from webapp.platforms.shopify import RULES as SHOPIFY
from webapp.platforms.woocommerce import RULES as WOO
from webapp.sync import matching
from webapp.sync.delivery import delivery_text, is_transferred
from webapp.sync.importer import line_values, order_label, skip_reason

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def item(**fields) -> RemoteItem:
    values = {"line_id": "1", "product_id": "", "sku": "", "name": "Case", "quantity": "1", "price": "10"}
    return RemoteItem(**{**values, **fields})


def order(**fields) -> RemoteOrder:
    values = {"external_id": "7", "number": "7", "created_at": NOW, "updated_at": NOW, "status_id": "1",
              "currency": "EUR", "buyer": RemoteBuyer(first_name="Anna", phone="+49 30 1234567"),
              "items": (item(),)}
    return RemoteOrder(**{**values, **fields})


# --- R-PRD-6: category choice ------------------------------------------------------------------


def test_R_PRD_6_one_chain_gives_its_deepest_level():
    paths = [("Phones",), ("Phones", "Smartphones"), ("Phones", "Smartphones", "Android")]
    assert matching.choose_category(paths) == ("Phones", "Smartphones", "Android")


def test_R_PRD_6_same_level_gives_the_alphabetically_first():
    assert matching.choose_category([("Tablets",), ("audio",), ("Laptops",)]) == ("audio",)
    assert matching.choose_category([("A", "Zed"), ("B", "Apple")]) == ("B", "Apple")


def test_R_PRD_6_different_levels_give_the_more_general():
    assert matching.choose_category([("Laptops", "Ultrabooks"), ("Sale",)]) == ("Sale",)
    # a ticked parent stands for its chain: Spare parts > Batteries is one chain, deepest wins
    assert matching.choose_category([("Spare parts",), ("Spare parts", "Batteries")]) == ("Spare parts", "Batteries")
    assert matching.choose_category([("Clothing",), ("Clothing", "Hoodies"), ("Music",)]) == ("Music",)


def test_R_PRD_6_no_or_blank_categories_give_none():
    assert matching.choose_category([]) == ()
    assert matching.choose_category([(), (" ",)]) == ()


def test_R_PRD_5_category_name_follows_the_platform_rule():
    line = item(categories=(("Laptops", "Ultrabooks"), ("Sale",)), category_path=("Laptops", "Ultrabooks"))
    assert matching.category_name(line, WOO) == "Sale"
    assert matching.category_name(line, SHOPIFY) == "Ultrabooks"  # "single": the given path's last
    assert matching.category_name(item(), CARTUM) is None


# --- R-PRD-1..4: product keys and fields ---------------------------------------------------------


def test_R_PRD_2_product_key_by_the_store_choice():
    line = item(sku="CT-1", name="Charger")
    assert matching.product_key(line, CARTUM, "article") == ("item_number", "CT-1")
    assert matching.product_key(line, CARTUM, "name") == ("name", "Charger")
    assert matching.product_key(item(sku="S-1", product_id="42"), SHOPIFY, "id") == ("code", "42")
    assert matching.product_key(item(sku="S-1", product_id="42"), WOO, "sku") == ("sku", "S-1")


def test_R_PRD_1_cartum_lines_without_article_get_no_catalogue_product():
    assert matching.product_key(item(sku=""), CARTUM, "name") is None


def test_R_PRD_2_a_line_of_a_deleted_product_is_found_by_its_name():
    assert matching.product_key(item(name="Old case", product_id="", sku=""), WOO, "id") == ("name", "Old case")
    assert matching.product_key(item(name="Gift wrap"), SHOPIFY, "sku") == ("name", "Gift wrap")


def test_R_PRD_3_R_PRD_4_fields_go_where_each_platform_says():
    assert matching.product_fields(item(sku="CT-1", description="Nice"), CARTUM) == {
        "name": "Case", "description": "Nice", "unit": PIECE, "item_number": "CT-1"}
    assert matching.product_fields(item(sku="S-1", product_id="42"), SHOPIFY) == {
        "name": "Case", "description": "", "unit": PIECE, "sku": "S-1", "code": "42"}


def test_long_platform_names_are_cut_to_the_column():
    assert len(matching.product_fields(item(name="x" * 400), WOO)["name"]) == 255


# --- R-CLI-1..4: client fields ---------------------------------------------------------------------


def test_R_CLI_2_phones_in_any_format_give_one_key():
    forms = ["+380 67 123-45-67", "380671234567", "+380671234567", "+380 (67) 123 45 67"]
    keys = {matching.client_values(RemoteBuyer(phone=f), "DE", False)["phone"] for f in forms}
    assert keys == {"+380671234567"}


def test_R_CLI_2_email_is_lower_cased_and_nonsense_dropped():
    assert matching.normalized_email(" Anna.S@Example.COM ") == "anna.s@example.com"
    assert matching.normalized_email("n/a") is None


def test_R_CLI_3_address_is_kept_only_where_the_platform_rule_says():
    buyer = RemoteBuyer(first_name="Emma", phone="+49301234567", address="Marienplatz 1")
    assert matching.client_values(buyer, "DE", SHOPIFY.buyer_address_kept)["address"] == "Marienplatz 1"
    assert matching.client_values(buyer, "DE", CARTUM.buyer_address_kept)["address"] == ""


def test_R_CLI_1_later_orders_fill_only_what_is_missing():
    current = {"first_name": "Anna", "last_name": "", "email": None, "phone": "+49301234567", "phone_raw": "030"}
    incoming = {"first_name": "Ann", "last_name": "Schmidt", "email": "a@x.de", "phone": "+49309999999",
                "phone_raw": "0309999999", "address": ""}
    assert matching.fill_changes(current, incoming, name_edited=False) == {"last_name": "Schmidt",
                                                                           "email": "a@x.de"}


def test_R_CLI_1_an_edited_name_is_never_touched_by_sync():
    current = {"first_name": "Anna", "last_name": "", "email": None, "phone": None, "phone_raw": ""}
    incoming = {"first_name": "A.", "last_name": "Schmidt", "email": None, "phone": "+49301234567",
                "phone_raw": "030 1234567"}
    changes = matching.fill_changes(current, incoming, name_edited=True)
    assert changes == {"phone": "+49301234567", "phone_raw": "030 1234567"}


def test_R_CLI_2_an_unreadable_phone_is_kept_as_typed_only():
    current = {"phone": None, "phone_raw": ""}
    assert matching.fill_changes(current, {"phone": None, "phone_raw": "ask at door"}, False) == {
        "phone_raw": "ask at door"}


# --- R-DEL-1..4: delivery comments ----------------------------------------------------------------


def delivery(**fields) -> RemoteDelivery:
    values = {"method_name": "Courier", "cost": "5", "recipient_address": "Kyiv, Main St 1", "is_own_method": True}
    return RemoteDelivery(**{**values, **fields})


def test_R_DEL_1_comment_names_method_cost_and_address():
    assert delivery_text(delivery(), "EUR") == "Delivery: Courier, cost 5.00 EUR, to Kyiv, Main St 1"
    assert delivery_text(delivery(cost=None, method_name=""), "EUR") == (
        "Delivery: —, cost not calculated, to Kyiv, Main St 1")


def test_R_DEL_3_R_DEL_4_which_deliveries_are_transferred():
    assert is_transferred(CARTUM, delivery(is_own_method=True))
    assert not is_transferred(CARTUM, delivery(is_own_method=False))
    assert is_transferred(SHOPIFY, delivery(is_own_method=False))
    assert not is_transferred(WOO, delivery())
    assert not is_transferred(SHOPIFY, None)
    # R-DEL-1: an address alone (neither method nor cost) is no delivery, on any platform
    assert not is_transferred(CARTUM, delivery(method_name="", cost=None))
    assert not is_transferred(SHOPIFY, delivery(method_name="", cost=None, is_own_method=False))
    assert is_transferred(CARTUM, delivery(method_name="", cost="80"))
    assert is_transferred(CARTUM, delivery(cost=None))  # a named method not priced yet (Cartum's -1)


# --- Reasons an order is kept out ------------------------------------------------------------------


def test_R_ORD_7_other_currency_reason_says_which_and_what_to_do():
    reason = skip_reason(order(currency="USD", number="#1001"), SHOPIFY, "EUR", "Shopify")
    assert reason.startswith("Order #1001 is in USD; this back office works in EUR")
    assert "by hand" in reason


def test_R_IMP_5_woocommerce_needs_products_and_a_contact():
    assert "no products" in skip_reason(order(items=()), WOO, "EUR", "WooCommerce")
    assert "e-mail or phone" in skip_reason(order(buyer=None), WOO, "EUR", "WooCommerce")
    assert "e-mail or phone" in skip_reason(order(buyer=RemoteBuyer(first_name="Bo")), WOO, "EUR", "WooCommerce")
    assert skip_reason(order(buyer=RemoteBuyer(email="bo@x.de")), WOO, "EUR", "WooCommerce") is None


def test_R_CLI_3_other_platforms_import_orders_without_buyer_or_items():
    assert skip_reason(order(buyer=None, items=()), CARTUM, "EUR", "Cartum") is None
    assert skip_reason(order(buyer=None), SHOPIFY, "EUR", "Shopify") is None


@pytest.mark.parametrize("number, label", [("1001", "#1001"), ("#1001", "#1001"), ("", "#7")])
def test_order_label_has_one_hash(number, label):
    assert order_label(order(number=number)) == label


def test_R_IMP_4_line_values_compare_as_the_columns_store_them():
    assert line_values(item(quantity="2", price="3.333333")) == (Decimal("2.000"), Decimal("3.33"))
