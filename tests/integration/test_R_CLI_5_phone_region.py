"""R-CLI-5: a phone written without a country code is read in the buyer's country (the order's
shipping or billing country), else in the store's country (Cartum: Ukraine by default), else in
the back office's PHONE_REGION (DE in these tests); the same buyer is one client whatever format
each order used. Existing clients split by the old reading are merged by ``flask clients
merge-phones``.

Orders are the platforms' own JSON, mapped by the real adapters (``Platform.preview``, the
mapping code every sync runs) and imported with ``import_orders`` on the real database, so the
country travels the whole way from the shop's payload to the client.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Client, FeedKind, Order, RunKind, Store, SyncRun
from webapp.platforms import PLATFORMS
from webapp.sync.importer import import_orders

UKRAINE = "+380502564778"
FRANCE = "+33502564778"
GERMANY = "+49502564778"
# The one buyer, written the ways shoppers write it: national, international with and without
# "+", spaced and dashed.
FORMATS = ("050 256 47 78", "0502564778", "+380502564778", "380502564778", "+380 50 256-47-78",
           "(050) 256-47-78")
PLATFORM_NAMES = ("cartum", "shopify", "woocommerce")
_ids = count(1001)
WHEN = datetime.now(timezone.utc) - timedelta(days=3)


# ---------------------------------------------------------------------------------------------
# The platforms' own order JSON, one buyer phone and (where the platform has one) one country
# ---------------------------------------------------------------------------------------------


def cartum_order(phone: str, country: str | None = None) -> dict:
    """Cartum orders name no country (fact sheet A.3): the store's country reads them."""
    number = next(_ids)
    return {"order_id": number, "stat_created": WHEN.astimezone(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S"),
            "stat_status": 1, "currency": "EUR", "delivery_name": "Коваленко Олена",
            "delivery_phone": phone, "delivery_email": "",
            "products": [{"article": "CASE-1", "title": "Case", "quantity": 1, "price": 10, "total_price": 10}]}


def shopify_order(phone: str, country: str | None = "UA") -> dict:
    address = {"first_name": "Olena", "last_name": "Kovalenko", "address1": "Khreshchatyk 1", "city": "Kyiv",
               "phone": phone, "country": "Ukraine" if country == "UA" else country,
               "country_code": country}
    number = next(_ids)
    return {"id": number, "name": f"#{number}", "created_at": WHEN.isoformat(), "updated_at": WHEN.isoformat(),
            "currency": "EUR", "financial_status": "paid", "fulfillment_status": None,
            "customer": {"id": 7, "first_name": "Olena", "last_name": "Kovalenko", "phone": phone, "email": None},
            "email": None, "phone": None, "shipping_address": address, "billing_address": address,
            "line_items": [{"id": number * 10, "product_id": 5, "sku": "CASE-1", "name": "Case",
                            "quantity": 1, "price": "10.00"}]}


def woocommerce_order(phone: str, country: str | None = "UA") -> dict:
    contact = {"first_name": "Olena", "last_name": "Kovalenko", "address_1": "Khreshchatyk 1", "city": "Kyiv",
               "country": country or "", "phone": phone}
    number = next(_ids)
    stamp = WHEN.strftime("%Y-%m-%dT%H:%M:%S")
    return {"id": number, "number": str(number), "status": "processing", "currency": "EUR",
            "date_created_gmt": stamp, "date_modified_gmt": stamp,
            "billing": {**contact, "email": ""}, "shipping": contact,
            "line_items": [{"id": number * 10, "product_id": 5, "variation_id": 0, "sku": "CASE-1",
                            "name": "Case", "quantity": 1, "price": 10, "total": "10.00"}]}


BUILD = {"cartum": cartum_order, "shopify": shopify_order, "woocommerce": woocommerce_order}
STATUS = {"cartum": "1", "shopify": "paid", "woocommerce": "processing"}


def store_for(world, platform: str, name: str = "", **fields) -> Store:
    store = Store(platform=platform, name=name or f"{platform} shop", url=f"https://{name or platform}.example.com",
                  location=world.main, order_type=world.repair, identify_by="name", managers_all=True, **fields)
    store.status_map = {STATUS[platform]: world.new.id}
    return factories.add(store)


def import_payload(store: Store, raw_orders: list[dict]) -> None:
    """The orders as a sync imports them: mapped by the adapter, imported, committed."""
    remote = PLATFORMS[store.platform].preview(raw_orders, {"timezone": "Europe/Kyiv"})
    run = factories.add(SyncRun(store_id=store.id, kind=RunKind.INITIAL))
    import_orders(store, run, remote, initial=True)
    db.session.commit()


def clients_with_phones() -> dict[str, Client]:
    return {client.phone: client for client in db.session.scalars(select(Client).where(Client.phone.is_not(None)))}


# ---------------------------------------------------------------------------------------------
# One client per buyer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORM_NAMES)
def test_R_CLI_5_one_client_per_buyer_whatever_format_each_order_used(app, world, platform):
    """Six orders of one Ukrainian buyer, each with the phone written another way, with
    PHONE_REGION=DE. Cartum orders name no country, so its store's default country (Ukraine)
    reads them; Shopify's and WooCommerce's stores have no country here, so the orders' own
    shipping/billing country does."""
    assert app.config["PHONE_REGION"] == "DE"
    store = store_for(world, platform)
    import_payload(store, [BUILD[platform](phone) for phone in FORMATS])
    orders = list(db.session.scalars(select(Order).filter_by(store_id=store.id)))
    assert len(orders) == len(FORMATS)
    assert {order.client.phone for order in orders} == {UKRAINE}
    assert db.session.scalar(select(func.count(Client.id))) == 1


def test_R_CLI_5_the_buyers_country_is_that_of_the_details_the_phone_came_from():
    """WooCommerce: the phone from shipping (billing has none) goes with the shipping country;
    Shopify: the billing address's phone with its country_code; a country alone is no buyer."""
    woo = woocommerce_order("", "UA")
    woo["shipping"] = {**woo["shipping"], "phone": "050 256 47 78", "country": "fr"}
    assert PLATFORMS["woocommerce"].preview(woo)[0].buyer.country == "FR"
    shop = shopify_order("", "UA")
    shop["customer"]["phone"] = None
    shop["shipping_address"] = {**shop["shipping_address"], "phone": None}
    shop["billing_address"] = {**shop["billing_address"], "phone": "050 256 47 78", "country_code": "PL"}
    assert PLATFORMS["shopify"].preview(shop)[0].buyer.country == "PL"
    nobody = woocommerce_order("", None)
    nobody.update(billing={"country": "UA"}, shipping={"country": "UA"})
    assert PLATFORMS["woocommerce"].preview(nobody)[0].buyer is None  # left out (R-IMP-5), as before


def test_R_CLI_5_cartum_stores_read_phones_in_ukraine_unless_told_otherwise(app, world):
    """The per-platform default: a Cartum store made anywhere (wizard, CLI, demo) is in Ukraine;
    the others have no country of their own until the shop or the user names one."""
    assert store_for(world, "cartum").country == "UA"
    assert store_for(world, "shopify").country == ""
    assert store_for(world, "woocommerce").country == ""
    assert store_for(world, "cartum", "kept-empty", country="").country == ""  # chosen: none


@pytest.mark.parametrize("platform", PLATFORM_NAMES)
def test_R_CLI_5_the_orders_country_wins_over_the_stores_and_the_stores_over_PHONE_REGION(app, world, platform):
    """"050 256 47 78" is a valid number in France, Ukraine and Germany alike, so each reading
    shows which country was used: the order's (France) over the store's (Ukraine), the store's
    over PHONE_REGION (Germany) when the order names none. Cartum orders never name one."""
    in_ukraine = store_for(world, platform, f"{platform}-ua", country="UA")
    no_country = store_for(world, platform, f"{platform}-none", country="")
    orders = [BUILD[platform]("050 256 47 78", None)]
    if platform != "cartum":
        orders.append(BUILD[platform]("050 256 47 78", "FR"))
    import_payload(in_ukraine, orders)
    import_payload(no_country, [BUILD[platform]("050 256 47 78", None)])
    clients = clients_with_phones()
    expected = {UKRAINE, GERMANY} | ({FRANCE} if platform != "cartum" else set())
    assert set(clients) == expected
    by_store = {store.id: {o.client.phone for o in db.session.scalars(select(Order).filter_by(store_id=store.id))}
                for store in (in_ukraine, no_country)}
    assert by_store[no_country.id] == {GERMANY}
    assert by_store[in_ukraine.id] == expected - {GERMANY}


def test_R_CLI_5_editing_an_imported_client_keeps_the_phone_read_in_the_buyers_country(app, client, world):
    """The client form shows the phone as typed; saving it unchanged must not read it again in
    PHONE_REGION and turn the Ukrainian number into a German one."""
    store = store_for(world, "cartum")
    import_payload(store, [cartum_order("050 256 47 78")])
    buyer = db.session.scalar(select(Client))
    assert buyer.phone == UKRAINE
    sign_in(client, "admin")
    saved = post(client, f"/clients/{buyer.id}/edit", {"first_name": "Olena", "last_name": "Kovalenko-Bondar",
                                                         "phone": buyer.phone_raw, "email": "", "address": ""})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    db.session.expire_all()
    assert (buyer.last_name, buyer.phone) == ("Kovalenko-Bondar", UKRAINE)


# ---------------------------------------------------------------------------------------------
# The store's country in the wizard
# ---------------------------------------------------------------------------------------------


def selected_country(html: str) -> str:
    select_html = re.search(r'<select[^>]*name="country".*?</select>', html, re.S)
    assert select_html, "the wizard has no country select"
    chosen = re.search(r'<option selected value="([^"]*)"', select_html.group(0))
    return chosen.group(1) if chosen else ""


def test_R_CLI_5_the_wizard_preselects_each_platforms_country(app, client, world):
    sign_in(client, "admin")
    cartum = client.get("/settings/stores/new?platform=cartum").get_data(as_text=True)
    assert selected_country(cartum) == "UA" and ">Ukraine<" in cartum
    for platform in ("shopify", "woocommerce"):
        page = client.get(f"/settings/stores/new?platform={platform}").get_data(as_text=True)
        assert selected_country(page) == "shop", platform  # "The shop's own country"


def test_R_CLI_5_choosing_another_platform_preselects_its_country_and_a_choice_is_kept_otherwise(app, client, world):
    """The wizard's htmx swap: a platform change shows that platform's default, while another
    change (the location) keeps the country the user chose."""
    sign_in(client, "admin")
    switched = post(client, "/settings/stores/form", {"platform": "cartum", "country": "shop"},
                    page="/settings/stores/new", headers={"HX-Request": "true", "HX-Trigger-Name": "platform"})
    assert selected_country(switched.get_data(as_text=True)) == "UA"
    kept = post(client, "/settings/stores/form", {"platform": "cartum", "country": "PL"},
                page="/settings/stores/new", headers={"HX-Request": "true", "HX-Trigger-Name": "location_id"})
    assert selected_country(kept.get_data(as_text=True)) == "PL"


def test_R_CLI_5_a_shopify_store_takes_the_shops_own_country_and_it_can_be_changed(app, client, world, redis):
    """The simulator's shop.json says country_code "DE"; the store page says which country
    reads the phones, and editing the store changes it."""
    sign_in(client, "admin")
    values = {"enabled": "y", "platform": "shopify", "name": "Kyiv cases", "location_id": world.main.id,
              "order_type_id": world.repair.id, "identify_by": "sku", "managers": "all",
              "credential_access_token": "shpat_simulator"}
    with serving("shopify", orders=3) as sim:
        first = post(client, "/settings/stores/new", {**values, "url": sim.url},
                     page="/settings/stores/new?platform=shopify")
        assert first.status_code == 302, first.get_data(as_text=True)
        saved = post(client, first.headers["Location"], {})
        assert saved.status_code == 302, saved.get_data(as_text=True)
        store = db.session.scalar(select(Store))
        assert store.country == "DE"
        assert "Germany" in client.get(f"/settings/stores/{store.id}").get_data(as_text=True)
        edit_url = f"/settings/stores/{store.id}/edit"
        assert selected_country(client.get(edit_url).get_data(as_text=True)) == "DE"
        again = post(client, edit_url, {**values, "url": sim.url, "country": "UA"})
        assert again.status_code == 302, again.get_data(as_text=True)
        assert post(client, again.headers["Location"], {}).status_code == 302
    db.session.expire_all()
    assert store.country == "UA"
    assert "Ukraine" in client.get(f"/settings/stores/{store.id}").get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# Clients split before this rule: flask clients merge-phones
# ---------------------------------------------------------------------------------------------


def test_R_CLI_5_merge_phones_merges_clients_that_are_one_buyer_and_says_so(app, world):
    """The state the old reading left: a Cartum buyer's national phone read in Germany (one
    client) and the same phone written internationally (another). A dry run says what it would
    do and changes nothing; the real run moves the orders to the older client, keeps their feeds
    and the other client's e-mail, says what it merged, and finds nothing more the second time.
    A hand-made client (no store, so PHONE_REGION) is left as it is."""
    store = store_for(world, "cartum")
    national = factories.add(Client(first_name="Olena", last_name="Kovalenko", phone_raw="050 256 47 78",
                                    phone=GERMANY))
    international = factories.add(Client(first_name="Olena", last_name="Kovalenko", phone_raw="+380502564778",
                                         phone=UKRAINE, email="olena@example.com"))
    berliner = factories.client("Jonas", "Weber", "030 1234567")
    first = factories.order(world.main, world.repair, national, store_id=store.id)
    second = factories.order(world.main, world.repair, international, store_id=store.id)
    first.note(FeedKind.COMMENT, "Call before delivery")
    db.session.commit()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["clients", "merge-phones", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Olena Kovalenko" in dry.output and "+380 50 256 4778" in dry.output and "dry run" in dry.output.lower()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Client.id))) == 3

    done = runner.invoke(args=["clients", "merge-phones"])
    assert done.exit_code == 0, done.output
    assert f"#{international.id}" in done.output and f"#{national.id}" in done.output
    assert "merged 1" in done.output.lower()
    db.session.expire_all()
    kept = db.session.get(Client, national.id)
    assert db.session.get(Client, international.id) is None
    assert (kept.phone, kept.email) == (UKRAINE, "olena@example.com")
    assert {first.client_id, second.client_id} == {kept.id}
    assert "Call before delivery" in [entry.text for entry in first.feed]
    assert any("merged" in entry.text for entry in second.feed)  # says why its client changed
    assert db.session.get(Client, berliner.id).phone == "+49301234567"

    again = runner.invoke(args=["clients", "merge-phones"])
    assert again.exit_code == 0 and "nothing to merge" in again.output.lower()


def test_R_CLI_5_the_upgrade_gives_existing_cartum_stores_ukraine(tmp_path):
    """Migration 0007 on a database with stores: Cartum's get the platform's default country,
    the others none (their orders name the buyer's country; the store can be edited)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}", "SECRET_KEY": "test",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade(revision="0006_session_version")
        with db.engine.begin() as conn:
            for number, platform in enumerate(PLATFORM_NAMES, 1):
                conn.execute(text(
                    "INSERT INTO stores (id, platform, name, url, created_at, credentials_encrypted, language, "
                    "timezone, identify_by, managers_all, status_map, enabled, import_state, manager_turn) VALUES "
                    "(:id, :platform, :platform, :url, '2026-01-01 00:00:00', '', '', '', 'name', 1, '{}', 1, "
                    "'done', 0)"), {"id": number, "platform": platform, "url": f"https://{platform}.example.com"})
        upgrade()
        with db.engine.connect() as conn:
            countries = dict(conn.execute(text("SELECT platform, country FROM stores")).all())
        db.engine.dispose()
    assert countries == {"cartum": "UA", "shopify": "", "woocommerce": ""}


def test_R_CLI_5_flask_stores_add_takes_the_country_as_the_wizard_does(app, world, redis):
    """`flask stores add --country`: by default what the wizard preselects (Cartum Ukraine, a
    Shopify store the shop's own: the simulator's shop.json says DE); a code, "shop" or "none"
    (PHONE_REGION) when given; a code that is no country is refused before the shop is asked."""
    factories.order_type(world.new, "Online order")
    runner = app.test_cli_runner()

    def add(sim, name: str, *country: str):
        args = ["stores", "add", "--platform", "shopify", "--name", name, "--url", sim.url, "--location",
                "Main workshop", "--order-type", "Online order", "--credentials-from-stdin", *country]
        return runner.invoke(args=args, input="access_token=shpat_simulator\n")

    with serving("shopify", orders=3) as sim:
        refused = add(sim, "Typo", "--country", "Germany")
        assert refused.exit_code == 1 and "'Germany' is not a country code such as UA or DE" in refused.output
        assert sim.requests() == []  # refused before the shop was asked anything
    chosen = {}
    for name, country in [("Own", ()), ("Polish", ("--country", "pl")), ("None", ("--country", "none")),
                          ("Asked", ("--country", "shop"))]:
        with serving("shopify", orders=3) as sim:  # a shop is connected once (R-REL-1): one each
            chosen[name] = add(sim, name, *country)
    assert all(result.exit_code == 0 for result in chosen.values()), {k: v.output for k, v in chosen.items()}
    countries = dict(db.session.execute(select(Store.name, Store.country)).all())
    assert countries == {"Own": "DE", "Polish": "PL", "None": "", "Asked": "DE"}
