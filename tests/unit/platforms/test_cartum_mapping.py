"""Cartum JSON -> normalized records: pure functions, no I/O.

The sample order is the fact sheet's example (shared/platforms/cartum.md A.3), written out
here by us, with the fields every Cartum order carries.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from webapp.platforms.base import RemoteStatus
from webapp.platforms.cartum import RULES, CartumPlatform
from webapp.platforms.cartum import mapping
from webapp.platforms.cartum.mapping import (
    CatalogEntry, buyer, catalog_entries, category_path, created_at, delivery, delivery_cost,
    html_to_text, is_own_delivery, items, localized, split_name, statuses,
)

UTC = timezone.utc

SAMPLE = {
    "order_id": 123, "user": 5567, "delivery_name": "Шевченко Тарас", "delivery_email": "t@example.com",
    "delivery_phone": "+380501234567", "delivery_city": "Київ", "delivery_city_stable": "Київ",
    "delivery_address": "вул. Хрещатик, 1", "delivery_type": {"id": 12, "title": "Власна доставка"},
    "delivery_price": 80, "comment": "", "payment_type": {"id": 13, "title": "Готівкою"},
    "payment_price": 0, "payed": 0, "total_default": 1500, "total_sum": 1200, "total_quantity": 2,
    "discount_value": 300, "coupon_code": "", "stat_status": 1, "stat_created": "2026-04-15 10:30:00",
    "currency": "UAH",
    "products": [{"article": "ABC123", "title": "Товар", "price": 600, "quantity": 2, "total_price": 1200,
                  "type": "product", "discount_marker": "PRICE_OLD", "storage_id": 1,
                  "parent_storage_id": None}],
    "delivery_data": {}, "analytics": {"utm_source": "(direct)"},
}


def sample(**changes):
    raw = copy.deepcopy(SAMPLE)
    raw.update(changes)
    return raw


# --- the order ------------------------------------------------------------------------------

def test_R_ORD_6_fact_sheet_example_maps_to_a_remote_order():
    order = mapping.order(sample())
    assert (order.external_id, order.number, order.status_id, order.currency) == ("123", "123", "1", "UAH")
    assert order.created_at == datetime(2026, 4, 15, 7, 30, tzinfo=UTC)
    assert order.updated_at == order.created_at  # Cartum has no modification time
    assert order.raw["user"] == 5567
    assert order.total == Decimal("1200.00") == Decimal(SAMPLE["total_sum"])


def test_R_IMP_3_stat_created_is_read_in_the_store_time_zone():
    summer, winter = sample(), sample(stat_created="2026-01-15 10:30:00")
    assert created_at(summer) == datetime(2026, 4, 15, 7, 30, tzinfo=UTC)   # Kyiv, UTC+3
    assert created_at(winter) == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)   # Kyiv, UTC+2
    assert created_at(summer, "Europe/Bucharest") == datetime(2026, 4, 15, 7, 30, tzinfo=UTC)
    assert created_at(summer, "UTC") == datetime(2026, 4, 15, 10, 30, tzinfo=UTC)
    assert mapping.order(summer, zone="Europe/Berlin").created_at == datetime(2026, 4, 15, 8, 30, tzinfo=UTC)


def test_R_IMP_3_default_zone_is_kyiv_and_adapter_option_overrides_it():
    assert mapping.DEFAULT_TIMEZONE == "Europe/Kyiv"
    shop = CartumPlatform("shop.example.com", {}, {}, http=None)
    assert shop.timezone == "Europe/Kyiv"
    berlin = CartumPlatform("shop.example.com", {}, {"timezone": "Europe/Berlin"}, None)
    assert berlin.timezone == "Europe/Berlin"
    with pytest.raises(ValueError, match="time zone"):
        CartumPlatform("shop.example.com", {}, {"timezone": "Mars/Olympus"}, None)


def test_an_order_without_a_creation_time_is_refused_not_guessed():
    with pytest.raises(ValueError):
        mapping.order(sample(stat_created=""))


# --- buyer: the name rule -------------------------------------------------------------------

@pytest.mark.parametrize("full, first, last", [
    ("", "", ""),
    ("   ", "", ""),
    ("Taras", "Taras", ""),
    ("Anna Schmidt", "Anna", "Schmidt"),                         # rule 5: Given Surname
    ("Anna von der Leyen", "Anna", "von der Leyen"),             # rule 5: the surname stays whole
    ("  Jonas   Weber ", "Jonas", "Weber"),
    ("Шевченко Тарас", "Тарас", "Шевченко"),                     # rule 3: surname ending first
    ("Тарас Шевченко", "Тарас", "Шевченко"),                     # rule 4 exception: surname last
    ("Бабич Іван", "Іван", "Бабич"),                             # rule 4: Cyrillic, Surname Given
    ("Коваленко Олена Петрівна", "Олена Петрівна", "Коваленко"),  # rule 2: patronymic last
    ("Олена Петрівна Коваленко", "Олена Петрівна", "Коваленко"),  # rule 2: patronymic middle
    ("Kovalenko Olena", "Olena", "Kovalenko"),                   # rule 3 in Latin script
    ("Olena Kovalenko", "Olena", "Kovalenko"),
    ("Лев Ковальчук", "Лев", "Ковальчук"),                       # short "Лев" is not taken for a surname
    ("Sofia Petrova", "Sofia", "Petrova"),
])
def test_R_CLI_1_delivery_name_is_split_by_the_stated_rule(full, first, last):
    assert split_name(full) == (first, last)


@pytest.mark.parametrize("full", ["Anna Maria Schmidt", "Шевченко Тарас Григорович",
                                  "Kovalenko Olena Ivanivna", "Jean-Luc Picard", "Олена Коваленко-Бойко"])
def test_R_CLI_1_name_split_never_loses_a_word(full):
    first, last = split_name(full)
    assert sorted(f"{first} {last}".split()) == sorted(full.split())


def test_R_CLI_1_buyer_keeps_phone_raw_and_email():
    found = buyer(sample(delivery_phone=" +380 (50) 123 45 67 "))
    assert (found.first_name, found.last_name) == ("Тарас", "Шевченко")
    assert found.phone == "+380 (50) 123 45 67" and found.email == "t@example.com"
    assert found.address == ""  # RULES.buyer_address_kept is False


def test_R_CLI_3_guest_order_without_name_or_contact_has_no_buyer():
    assert buyer(sample(delivery_name="", delivery_phone=None, delivery_email="")) is None
    name_only = buyer(sample(delivery_name="Anna Schmidt", delivery_phone="", delivery_email=None))
    assert name_only is not None and not name_only.has_contact


# --- delivery -------------------------------------------------------------------------------

@pytest.mark.parametrize("price, cost", [
    (-1, None), ("-1", None), ("-1.00", None), (-1.0, None), (None, None), ("", None),
    (0, Decimal("0")), (80, Decimal("80")), ("49.90", Decimal("49.90")),
])
def test_R_DEL_1_delivery_price_minus_one_means_not_calculated(price, cost):
    assert delivery_cost(price) == cost
    assert delivery(sample(delivery_price=price)).cost == cost


def test_R_DEL_1_comment_fields_method_cost_and_address():
    found = delivery(sample())
    assert found.method_name == "Власна доставка" and found.cost == Decimal("80")
    assert found.recipient_address == "Київ, вул. Хрещатик, 1"


def test_R_DEL_1_ukrposhta_address_parts_split_by_at_are_joined():
    raw = sample(delivery_type={"id": 5, "title": "Ukrposhta"}, delivery_city="Одеса",
                 delivery_address="вул. Шевченка@12@кв. 5")
    assert delivery(raw).recipient_address == "Одеса, вул. Шевченка, 12, кв. 5"


def test_R_DEL_1_no_method_and_no_address_means_no_delivery():
    raw = sample(delivery_type=None, delivery_city="", delivery_city_stable="", delivery_address="")
    assert delivery(raw) is None


@pytest.mark.parametrize("kind, data, own", [
    ({"id": 12, "title": "Власна доставка"}, {}, True),                       # the fact sheet's example
    ({"id": 14, "title": "Pickup at the shop"}, None, True),
    ({"id": 15, "title": "Courier"}, {"deliveryOperatorType": "", "tnNumber": ""}, True),
    ({"id": 3, "title": "Delivery to a branch"}, {"deliveryOperatorType": "novaposhta"}, False),
    ({"id": 3, "title": "Branch"}, {"tnNumber": "20450000000000"}, False),    # a waybill exists
    ({"id": 3, "title": "Нова Пошта"}, {}, False),                           # carrier named, no data yet
    ({"id": 5, "title": "Ukrposhta"}, {}, False),
    ({"id": 7, "title": "Meest Express"}, {}, False),
])
def test_R_DEL_3_own_delivery_method_vs_built_in_carrier(kind, data, own):
    raw = sample(delivery_type=kind, delivery_data=data)
    assert is_own_delivery(raw) is own
    assert delivery(raw).is_own_method is own


# --- items ----------------------------------------------------------------------------------

def test_R_PRD_3_article_is_the_sku_and_lines_have_no_product_id():
    (line,) = items(sample())
    assert (line.sku, line.product_id, line.name) == ("ABC123", "", "Товар")
    assert RULES.match_fields("article") == ("sku", "item_number")
    assert RULES.code_field is None


def test_R_ORD_6_item_totals_are_quantity_times_price():
    raw = sample(products=[
        {"article": "A1", "title": "Case", "price": 199.9, "quantity": 3, "total_price": 599.7},
        {"article": "A2", "title": "Glass", "price": "49.50", "quantity": "2", "total_price": "99"},
    ])
    lines = items(raw)
    assert [line.line_total for line in lines] == [Decimal("599.7"), Decimal("99.00")]
    assert mapping.order(raw).total == Decimal("698.70")


def test_R_PRD_7_gift_with_list_price_but_zero_total_costs_nothing():
    raw = sample(products=[
        {"article": "A1", "title": "Phone", "price": 900, "quantity": 1, "total_price": 900,
         "type": "product"},
        {"article": "A1", "title": "Phone", "price": 900, "quantity": 1, "total_price": 0, "type": "gift"},
        {"article": "B2", "title": "Set part", "price": 100, "quantity": 3, "total_price": 200,
         "type": "set_item"},
    ])
    phone, gift, part = items(raw)
    assert (phone.price, gift.price) == (Decimal("900"), Decimal("0.00"))
    assert part.price == Decimal("66.67")  # the line total wins when it disagrees
    assert (phone.line_id, gift.line_id, part.line_id) == ("A1", "A1:gift", "B2:set_item")


def test_R_IMP_4_line_ids_are_stable_and_unique():
    raw = sample(products=[
        {"article": "A1", "title": "Cable", "price": 5, "quantity": 1, "total_price": 5},
        {"article": "A1", "title": "Cable", "price": 5, "quantity": 2, "total_price": 10},
        {"article": "", "title": "Gift wrapping", "price": 2, "quantity": 1, "total_price": 2},
    ])
    assert [line.line_id for line in items(raw)] == ["A1", "A1#2", "Gift wrapping"]
    raw["products"][0]["quantity"] = 7
    assert [line.line_id for line in items(raw)] == ["A1", "A1#2", "Gift wrapping"]


def test_R_PRD_1_line_without_article_keeps_its_title_and_no_sku():
    raw = sample(products=[{"article": None, "title": "Gift wrapping", "price": 25, "quantity": 1}])
    (line,) = items(raw)
    assert (line.sku, line.name, line.price) == ("", "Gift wrapping", Decimal("25"))


# --- products in the store's language -------------------------------------------------------

EXPORT = [
    {"article": "ABC123", "parent_article": "",
     "title": {"en": "Phone case", "ro": "Husă", "ua": "Чохол"},
     "description": {"en": "<p style='color:red'>Soft <b>case</b>&amp; strap</p><ul><li>Black</li></ul>",
                     "ro": "", "ua": "<p>М'який чохол</p>"},
     "parent": {"id": 5, "value": "Cases", "title": {"en": "Cases", "ro": "Huse", "ua": "Чохли"}}},
    {"article": "OLD1", "title": {"en": "Charger", "ro": ""}, "parent": {"id": 6, "value": "Chargers"}},
    {"article": "", "title": {"en": "no article"}},
]


def test_R_PRD_8_names_descriptions_and_category_come_in_the_store_language():
    catalog = catalog_entries(EXPORT, "ua")
    assert catalog["ABC123"] == CatalogEntry("Чохол", "М'який чохол", ("Чохли",))
    (line,) = items(sample(), catalog, "ua")
    assert (line.name, line.description, line.category_path) == ("Чохол", "М'який чохол", ("Чохли",))


def test_R_PRD_8_empty_translation_falls_back_to_english_then_any():
    catalog = catalog_entries(EXPORT, "ro")
    assert catalog["ABC123"].name == "Husă"
    assert catalog["ABC123"].description == "Soft case& strap\n- Black"  # ro is "" (switched off)
    assert catalog["OLD1"] == CatalogEntry("Charger", "", ("Chargers",))
    assert "" not in catalog
    assert localized({"ro": "", "ua": "Чохол"}, "ro") == "Чохол"
    assert localized({"ua": "Чохол", "en": "Case"}, "uk") == "Чохол"  # ISO "uk" is Cartum's "ua"
    assert localized("plain", "en") == "plain" and localized(None) == ""


def test_R_PRD_8_without_a_catalog_entry_the_line_title_is_the_name():
    (line,) = items(sample(), {"ABC123": None}, "en")
    assert (line.name, line.description, line.category_path) == ("Товар", "", ())


@pytest.mark.parametrize("parent, language, path", [
    ({"id": 5, "value": "Cat"}, "en", ("Cat",)),                 # the fact sheet's assumed shape
    ({"id": 5, "value": "Phones/Cases"}, "en", ("Phones", "Cases")),
    ({"id": 5, "title": {"en": "Cases", "ro": "Huse"}}, "ro", ("Huse",)),
    ({"id": 5, "value": {"en": "Cases", "ua": "Чохли"}}, "ua", ("Чохли",)),
    ("Phones / Cases", "en", ("Phones", "Cases")),
    (5, "en", ()),
    ({"id": 5}, "en", ()),
    (None, "en", ()),
])
def test_R_PRD_5_category_from_the_parent_field(parent, language, path):
    assert category_path(parent, language) == path


def test_html_descriptions_become_plain_text():
    assert html_to_text("<style>p{color:red}</style><p>One&nbsp;two</p><p>Three</p>") == "One two\nThree"
    assert html_to_text("Plain &amp; simple") == "Plain & simple"


# --- statuses and rules ---------------------------------------------------------------------

def test_R_CON_5_statuses_object_keyed_by_id_in_the_chosen_language():
    response = {"statuses": {
        "1": {"id": 1, "title": {"en": "New", "ro": "Nou"}, "is_successful": 0},
        "3": {"id": 3, "title": {"en": "Delivered", "ro": "Livrat"}, "is_successful": 1},
        "9": {"id": 9, "title": {"en": "", "ro": ""}, "is_successful": 0},
    }}
    assert statuses(response, "ro") == [RemoteStatus("1", "Nou"), RemoteStatus("3", "Livrat"),
                                        RemoteStatus("9", "Status 9")]
    assert statuses({"statuses": [{"id": 2, "title": "In process"}]}) == [RemoteStatus("2", "In process")]
    assert statuses([]) == [] and statuses({"statuses": {}}) == []


def test_R_IMP_2_initial_import_skips_delivered_and_builtins_have_no_status_5():
    assert RULES.excluded_initial_statuses == frozenset({"3"})
    assert [s.id for s in mapping.BUILT_IN_STATUSES] == ["1", "2", "3", "4", "6"]


def test_R_CON_3_rules_state_every_cartum_difference():
    assert (RULES.statuses_in, RULES.statuses_out, RULES.needs_status_mapping) == (True, True, True)
    assert not RULES.tracks_updates and RULES.delivery_only_own_method and RULES.delivery_transferred
    assert RULES.identify_by == ("name", "article") and RULES.sku_field == "item_number"
    assert RULES.client_match_keys == ("phone",) and RULES.category_choice == "single"
    assert RULES.language_choice and RULES.catalog_needs_sku
    assert not (RULES.skip_without_items or RULES.skip_without_contact or RULES.buyer_address_kept)
    login, password = RULES.credential_fields
    assert (login.name, login.secret, password.name, password.secret) == ("login", False, "password", True)
    assert "Administrators" in login.help and "not the e-mail" in login.help
    assert (CartumPlatform.name, CartumPlatform.title, CartumPlatform.RULES) == ("cartum", "Cartum", RULES)


# --- the shop's own total (R-REL-4: shown beside ours when they differ) ---------------------


def test_R_REL_4_the_shops_total_is_total_sum_without_delivery():
    """The fact sheet's example: lines 2 x 600 = total_sum 1200; delivery (80) is not in it and
    total_default (1500) is before order-level discounts."""
    assert mapping.order(sample()).platform_total == Decimal("1200")
    assert mapping.order(sample(total_sum="1150.50")).platform_total == Decimal("1150.50")
    assert mapping.order(sample(total_sum=None)).platform_total is None


def test_R_REL_2_a_window_page_belongs_by_the_days_the_shop_wrote():
    """A stale answer is told by orders created outside the window. Days, not seconds: both
    sides are the shop's local strings, and a shop older than v3.30 reads only the date part
    of ``from``/``to``, so an earlier order of the ``from`` day is a true answer. An order
    without a readable date is not judged (the mapping skips it)."""
    from webapp.platforms.cartum import _Cursor

    belongs = _Cursor(start="2026-04-15 10:30:00", end="2026-04-20 08:00:00", offset=0, since="").belongs()
    good = ["2026-04-15 08:00:00", "15.04.2026 10:30:00", "2026-04-20 23:59:59", "", "not a date"]
    assert all(belongs({"order_id": 1, "stat_created": text}) for text in good)
    assert not belongs({"order_id": 1, "stat_created": "2026-04-14 23:59:59"})
    assert not belongs({"order_id": 1, "stat_created": "21.04.2026 00:00:00"})
    assert _Cursor(start="", end="2026-04-20 08:00:00", offset=0, since="").belongs()(
        {"order_id": 1, "stat_created": "2001-01-01 00:00:00"})
