"""The platform contract: normalized records, helpers, errors, rules and the boundary."""
from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from webapp.platforms import PLATFORMS
from webapp.platforms import base
from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, CredentialField, NotFound, OrdersPage, Platform,
    PlatformError, PlatformRules, RateLimited, Rejected, RemoteBuyer, RemoteDelivery, RemoteItem,
    RemoteOrder, RemoteStatus, StoreMoved, Unreachable, money, money_or_none, normalize_store_url,
    origin, parse_platform_time,
)

UTC = timezone.utc
NOW = datetime(2026, 4, 15, 10, 30, tzinfo=UTC)
PLATFORMS_DIR = Path(base.__file__).resolve().parent


def item(quantity="1", price="10", **extra) -> RemoteItem:
    values = dict(line_id="1", product_id="77", sku="A1", name="Mug", quantity=quantity, price=price)
    return RemoteItem(**(values | extra))


def order(**extra) -> RemoteOrder:
    values = dict(external_id="123", number="#1001", created_at=NOW, updated_at=NOW,
                  status_id="1", currency="uah")
    return RemoteOrder(**(values | extra))


# --- times ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, zone, expected", [
    ("2008-01-10T11:00:00-05:00", None, datetime(2008, 1, 10, 16, 0, tzinfo=UTC)),   # Shopify
    ("2026-04-15T10:30:00Z", None, datetime(2026, 4, 15, 10, 30, tzinfo=UTC)),
    ("2017-03-22T19:28:02", "UTC", datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),   # Woo *_gmt
    ("2026-04-15 10:30:00", "Europe/Kyiv", datetime(2026, 4, 15, 7, 30, tzinfo=UTC)),  # summer +3
    ("2026-01-15 10:30:00", "Europe/Kyiv", datetime(2026, 1, 15, 8, 30, tzinfo=UTC)),  # winter +2
    ("15.04.2026 10:30:00", "Europe/Kyiv", datetime(2026, 4, 15, 7, 30, tzinfo=UTC)),  # Cartum input
    (" 2026-04-15T12:30:00+02:00 ", "America/New_York", datetime(2026, 4, 15, 10, 30, tzinfo=UTC)),
])
def test_parse_platform_time_gives_aware_utc(text, zone, expected):
    parsed = parse_platform_time(text, zone)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_platform_time_accepts_datetimes():
    kyiv = timezone(timedelta(hours=3))
    assert parse_platform_time(datetime(2026, 4, 15, 13, 30, tzinfo=kyiv)) == NOW
    assert parse_platform_time(datetime(2026, 4, 15, 10, 30), "UTC") == NOW


def test_R_IMP_3_naive_time_without_zone_is_refused_not_guessed():
    with pytest.raises(ValueError, match="time zone"):
        parse_platform_time("2026-04-15 10:30:00")


@pytest.mark.parametrize("text, zone", [("", "UTC"), (None, "UTC"), ("yesterday", "UTC"),
                                        ("2026-04-15 10:30:00", "Mars/Olympus")])
def test_parse_platform_time_rejects_garbage(text, zone):
    with pytest.raises(ValueError):
        parse_platform_time(text, zone)


# --- money ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("598.94", Decimal("598.94")), (3, Decimal("3")), (0.1, Decimal("0.1")), (12.5, Decimal("12.5")),
    (Decimal("1.005"), Decimal("1.005")), (" 12 ", Decimal("12")), ("1 200.50", Decimal("1200.50")),
    ("12,50", Decimal("12.50")), ("-10.00", Decimal("-10.00")), (None, Decimal("0")), ("", Decimal("0")),
])
def test_money_reads_what_platforms_send(value, expected):
    assert money(value) == expected
    assert isinstance(money(value), Decimal)


def test_money_default_and_optional():
    assert money(None, default=Decimal("1")) == Decimal("1")
    assert money_or_none(None) is None and money_or_none("  ") is None
    assert money_or_none("80") == Decimal("80")


@pytest.mark.parametrize("value, error", [
    ("1,200", ValueError), ("abc", ValueError), ("NaN", ValueError), (float("inf"), ValueError),
    (True, TypeError), ([1], TypeError),
])
def test_money_refuses_what_it_cannot_read_safely(value, error):
    with pytest.raises(error):
        money(value)


# --- URLs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, expected", [
    ("shop.example.com/", "https://shop.example.com"),
    ("  Shop.Example.com  ", "https://shop.example.com"),
    ("https://shop.example.com:443/", "https://shop.example.com"),
    ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
    ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("https://shop.example.com:8443", "https://shop.example.com:8443"),
    ("example.com/shop/", "https://example.com/shop"),
    ("https://my-shop.myshopify.com/admin?x=1#top", "https://my-shop.myshopify.com/admin"),
    ("магазин.укр", "https://магазин.укр"),
    ("http://[::1]:5001", "http://[::1]:5001"),
])
def test_R_CON_2_store_url_is_normalized(typed, expected):
    assert normalize_store_url(typed) == expected


@pytest.mark.parametrize("typed", [
    "", "   ", None, "ftp://shop.example.com", "shop", "not a url", "https://", "shop..com",
    "-shop.com", "https://shop.example.com:99999", "1.2.3", "owner@example.com",
])
def test_R_CON_4_things_that_are_not_web_addresses_are_refused(typed):
    with pytest.raises(ValueError) as caught:
        normalize_store_url(typed)
    assert str(caught.value).endswith(".")  # a sentence for the form


def test_R_CON_8_url_error_never_echoes_a_pasted_password():
    with pytest.raises(ValueError) as caught:
        normalize_store_url("https://admin:hunter2@shop.example.com")
    assert "hunter2" not in str(caught.value)


def test_origin_drops_the_path():
    assert origin("example.com/shop/") == "https://example.com"
    assert origin("http://127.0.0.1:5001/x") == "http://127.0.0.1:5001"


# --- records --------------------------------------------------------------------------------

def test_R_ORD_6_order_total_is_sum_of_quantity_times_price_to_the_cent():
    lines = (item("2", "600"), item("3", "0.333"), item(1, 0.1))
    assert order(items=lines).total == Decimal("1201.10")  # 1200 + 0.999 + 0.1
    assert order().total == Decimal("0.00")


@pytest.mark.parametrize("field_name", ["created_at", "updated_at"])
def test_order_refuses_naive_datetimes(field_name):
    with pytest.raises(ValueError, match=field_name):
        order(**{field_name: datetime(2026, 4, 15, 10, 30)})
    with pytest.raises(TypeError):
        order(**{field_name: "2026-04-15T10:30:00Z"})


def test_order_times_become_utc_and_ids_strings():
    kyiv = timezone(timedelta(hours=3))
    made = order(external_id=123, status_id=6, created_at=datetime(2026, 4, 15, 13, 30, tzinfo=kyiv))
    assert made.created_at == NOW and made.created_at.tzinfo is UTC
    assert (made.external_id, made.status_id, made.currency) == ("123", "6", "UAH")
    with pytest.raises(ValueError):
        order(external_id=" ")


def test_R_IMP_7_orders_compare_without_raw_and_are_hashable():
    first, second = order(raw={"a": 1}), order(raw={"a": 2})
    assert first == second and hash(first) == hash(second)


def test_R_CLI_3_buyer_of_treats_none_missing_and_blank_alike():
    assert RemoteBuyer.of(first_name=None, last_name="", email="  ") is None
    buyer = RemoteBuyer.of(first_name=" Taras ", phone=380501234567, email=None)
    assert buyer == RemoteBuyer(first_name="Taras", phone="380501234567")
    assert buyer.email == "" and buyer.has_contact
    assert not RemoteBuyer(first_name="Taras").has_contact


def test_buyer_and_order_repr_keep_personal_data_out_of_logs():
    buyer = RemoteBuyer(first_name="Taras", phone="+380501234567", email="t@example.com")
    made = order(buyer=buyer, raw={"delivery_phone": "+380501234567"})
    for text in (repr(buyer), repr(made)):
        assert "Taras" not in text and "380501234567" not in text and "t@example.com" not in text


def test_R_PRD_6_item_categories_always_list_the_single_path():
    single = item(category_path=["Clothing", " Hoodies ", ""])
    assert single.category_path == ("Clothing", "Hoodies")
    assert single.categories == (("Clothing", "Hoodies"),)
    several = item(categories=[["Music"], ["Clothing", "T-shirts"], []])
    assert several.categories == (("Music",), ("Clothing", "T-shirts")) and several.category_path == ()


def test_item_coerces_numbers_and_text():
    line = item(quantity=2, price=" 12.50 ", product_id=None, line_id=9)
    assert (line.quantity, line.price, line.product_id, line.line_id) == (Decimal(2), Decimal("12.50"), "", "9")
    assert line.line_total == Decimal("25.00")


def test_R_DEL_1_delivery_cost_none_means_not_calculated_and_negative_is_a_bug():
    assert RemoteDelivery(method_name="Own", cost=None, recipient_address="", is_own_method=True).cost is None
    assert RemoteDelivery(method_name="Own", cost="80", recipient_address=" Kyiv ",
                          is_own_method=True).recipient_address == "Kyiv"
    with pytest.raises(ValueError, match="None"):
        RemoteDelivery(method_name="Nova Poshta", cost=-1, recipient_address="", is_own_method=False)


def test_status_and_page_normalize():
    assert RemoteStatus(3, " Delivered ") == RemoteStatus("3", "Delivered")
    page = OrdersPage([order()], None)
    assert isinstance(page.orders, tuple) and page.checkpoint is None


# --- errors ---------------------------------------------------------------------------------

ERRORS = [AuthFailed(), ApiNotAvailable(), RateLimited(12.4), Unreachable(host="shop.example.com"),
          BadPayload(), NotFound(), Rejected(), StoreMoved("https://new.example.com")]


def test_errors_are_typed_with_stable_codes_and_actionable_messages():
    codes = [error.code for error in ERRORS]
    assert len(set(codes)) == len(codes)
    assert codes[:6] == ["auth_failed", "api_not_available", "rate_limited", "unreachable",
                         "bad_payload", "not_found"]
    for error in ERRORS:
        assert isinstance(error, PlatformError) and str(error) == error.message
        assert len(error.message.split(". ")) >= 2, error.message  # what happened. what to do.


def test_error_retryable_flags():
    assert [type(e).__name__ for e in ERRORS if e.retryable] == ["RateLimited", "Unreachable"]


def test_R_CON_4_auth_and_plan_messages_tell_what_to_do():
    assert "edit the store" in AuthFailed().message
    assert "plan" in ApiNotAvailable().message
    assert RateLimited(-3).retry_after == 0.0 and RateLimited(12.4).retry_after == 12.4
    assert "shop.example.com" in Unreachable(host="shop.example.com", reason="timed out").message
    assert AuthFailed("Cartum refused the login.").message == "Cartum refused the login."


# --- rules ----------------------------------------------------------------------------------

def rules(**changes) -> PlatformRules:
    """WooCommerce's rules per SPEC, the most constrained platform."""
    values = dict(
        excluded_initial_statuses=frozenset({"completed", "cancelled", "refunded", "failed", "trash"}),
        statuses_in=True, statuses_out=True, completed_needs_write_off=frozenset({"completed"}),
        needs_status_mapping=True, initial_status_from_order_type=False, tracks_updates=True,
        delivery_transferred=False, delivery_only_own_method=False,
        identify_by=("name", "sku", "id"), catalog_needs_sku=False, sku_field="sku", code_field="code",
        category_choice="woocommerce_tree", language_choice=False, client_match_keys=("phone", "email"),
        buyer_address_kept=False, skip_without_items=True, skip_without_contact=True,
        times_without_offset=False, default_timezone="",
        credential_fields=(CredentialField("consumer_key", "Consumer key", True),
                           CredentialField("consumer_secret", "Consumer secret", True)),
        url_help="The shop's address, e.g. https://shop.example.com",
    )
    return PlatformRules(**(values | changes))


def test_R_PRD_3_match_fields_follow_the_rules():
    woo = rules()
    assert woo.match_fields("sku") == ("sku", "sku")
    assert woo.match_fields("id") == ("product_id", "code")
    assert woo.match_fields("name") == ("name", "name")
    cartum = rules(identify_by=("name", "article"), sku_field="item_number", code_field=None)
    assert cartum.match_fields("article") == ("sku", "item_number")
    with pytest.raises(ValueError):
        cartum.match_fields("id")


@pytest.mark.parametrize("changes", [
    dict(identify_by=("barcode",)), dict(identify_by=()), dict(client_match_keys=("name",)),
    dict(category_choice="deepest"), dict(sku_field="article"), dict(code_field=None),
    dict(statuses_out=False), dict(delivery_only_own_method=True),
    dict(times_without_offset=True), dict(default_timezone="Europe/Kyiv"),
    dict(times_without_offset=True, default_timezone="Kyiv"),
])
def test_inconsistent_rules_are_refused_at_import_time(changes):
    with pytest.raises(ValueError):
        rules(**changes)


def test_rules_are_frozen():
    with pytest.raises(AttributeError):
        rules().statuses_in = False


# --- the adapter interface ------------------------------------------------------------------

class FakeHttp:
    def __init__(self):
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        return "response"


class Minimal(Platform):
    name, title, RULES, RATE = "minimal", "Minimal", rules(), "4/second"

    def verify(self): return None
    def statuses(self): return [RemoteStatus("1", "New")]
    def iter_orders(self, created_since=None, updated_since=None, resume_from=None): yield OrdersPage(())
    def fetch_orders(self, external_ids): return []
    def push_status(self, external_id, platform_status_id): return None
    def order_url(self, external_id): return f"{self.url}/orders/{external_id}"
    def orders_url(self): return f"{self.url}/orders"


def test_platform_is_abstract():
    with pytest.raises(TypeError):
        Platform("shop.example.com", {}, {}, FakeHttp())


def test_R_CON_8_platform_keeps_credentials_out_of_repr_and_uses_its_budget():
    http = FakeHttp()
    shop = Minimal("shop.example.com/", {"consumer_secret": "cs_secret"}, {"language": "en"}, http)
    assert shop.url == "https://shop.example.com" and "cs_secret" not in repr(shop)
    assert shop.budget_key == "shop:https://shop.example.com"
    assert shop.request("GET", f"{shop.url}/x", params={"a": 1}) == "response"
    assert http.calls == [("GET", "https://shop.example.com/x",
                           {"budget_key": "shop:https://shop.example.com", "rate": "4/second",
                            "params": {"a": 1}})]
    assert Minimal("http://127.0.0.1:5001", {}, {}, http, budget_key="store:17").budget_key == "store:17"


def test_registry_starts_empty_for_adapters_to_fill():
    assert isinstance(PLATFORMS, dict)


FORBIDDEN = ("flask", "flask_sqlalchemy", "flask_login", "flask_wtf", "flask_migrate", "sqlalchemy",
             "psycopg", "rq", "webapp.models", "webapp.sync", "webapp.views", "webapp.forms",
             "webapp.extensions", "webapp.config")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_DESIGN_platforms_import_no_flask_database_rq_or_app_layers():
    files = sorted(PLATFORMS_DIR.rglob("*.py"))
    assert len(files) >= 3
    for path in files:
        bad = [name for name in imported_modules(path)
               if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
        assert not bad, f"{path.relative_to(PLATFORMS_DIR)} imports {bad}"
