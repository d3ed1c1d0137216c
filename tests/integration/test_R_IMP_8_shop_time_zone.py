"""R-IMP-8: platform times without an offset (Cartum's ``stat_created``) are read in the shop's
time zone: the store's setting, offered by the wizard (Europe/Kyiv preselected for Cartum), and
the adapter's default when the store names none; never silently the back office's TIMEZONE.

The back office here runs in Europe/Berlin (the test app's TIMEZONE), one hour behind Kyiv, so
reading a Kyiv shop's times in it dates every order an hour late. Real app, database, Redis and
the Cartum simulator on loopback."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support.simulators import serving
from tests.integration.test_stores import chosen_statuses
from webapp.extensions import db
from webapp.models import Order, RunState, Store, SyncRun
from webapp.platforms import PLATFORMS
from webapp.stores_cli import ConnectError, StoreSpec, connect
from webapp.sync import jobs

KYIV = ZoneInfo("Europe/Kyiv")
CARTUM = {"login": "manager", "password": "cartum-demo"}
FIELDS = {"cartum": {"credential_login": "manager", "credential_password": "cartum-demo"},
          "shopify": {"credential_access_token": "shpat_simulator"}}
TOKEN = re.compile(r"/settings/stores/setup/([\w-]+)")


@pytest.fixture(autouse=True)
def quick_budget(monkeypatch):
    """The simulator sets no request limit: spend less time on the polite per-shop budget."""
    monkeypatch.setattr(PLATFORMS["cartum"], "RATE", "50/second")


def ten_in_the_morning_in_kyiv() -> datetime:
    """Yesterday 10:00 in Kyiv, as the shop writes it (no offset), within the import's window."""
    day = (datetime.now(KYIV) - timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, 10, 0, 0)


def add_order_at(sim, local: datetime) -> str:
    body = {"products": [{"article": "CT-1010", "quantity": 1}], "delivery_name": "Oksana Melnyk",
            "delivery_phone": "+380 50 256 47 78", "currency": "EUR", "status": 1,
            "stat_created": local.strftime("%Y-%m-%d %H:%M:%S")}
    return str(sim.control("POST", "orders", json=body)["order"]["order_id"])


def imported_at(store_id: int, external_id: str) -> datetime:
    run_id = jobs.initial_import(store_id)
    db.session.remove()
    run = db.session.get(SyncRun, run_id)
    assert run.state == RunState.SUCCEEDED, run.error
    return db.session.scalar(select(Order.created_at).filter_by(store_id=store_id, external_id=external_id))


@pytest.mark.parametrize("zone", ["", "Europe/Kyiv"], ids=["store-without-a-zone", "wizard-default"])
def test_R_IMP_8_a_kyiv_shop_s_orders_are_dated_right_whatever_the_back_office_s_zone(app, office, redis, zone):
    """An order placed at 10:00 in Kyiv is 08:00 UTC in winter, 07:00 in summer. A store saved
    before the wizard asked (zone "") reads it in the adapter's Europe/Kyiv, not in the back
    office's Europe/Berlin (which would make it 09:00 or 08:00 UTC: an hour late)."""
    assert app.config["TIMEZONE"] == "Europe/Berlin"
    with serving("cartum", orders=5) as sim:
        store = connect(StoreSpec("cartum", "Kyiv gadgets", sim.url, "Main workshop", "Online order",
                                  dict(CARTUM), guess_statuses=True, timezone=zone))
        db.session.commit()
        local = ten_in_the_morning_in_kyiv()
        external_id = add_order_at(sim, local)
        created = imported_at(store.id, external_id)
    expected = local.replace(tzinfo=KYIV).astimezone(timezone.utc)
    assert expected.hour in (7, 8)
    assert created == expected, f"{created:%H:%M} UTC, expected {expected:%H:%M} UTC"


def test_R_IMP_8_flask_stores_add_refuses_an_unknown_zone_with_what_to_type(app, office, redis):
    spec = StoreSpec("cartum", "Kyiv gadgets", "https://shop.example.com", "Main workshop", "Online order",
                     dict(CARTUM), guess_statuses=True, timezone="Kyiv")
    with pytest.raises(ConnectError) as refused:
        connect(spec)
    assert "time zone" in str(refused.value) and "Europe/Kyiv" in str(refused.value)
    assert db.session.scalar(select(Store.id)) is None


# --- the wizard -------------------------------------------------------------------------------


def step_one(world, platform: str, url: str, **changes) -> dict:
    values = {"enabled": "y", "platform": platform, "name": f"My {platform} shop", "url": url,
              "location_id": world.main.id, "order_type_id": world.repair.id, "identify_by": "name",
              "managers": "all", **FIELDS[platform], **changes}
    return {key: value for key, value in values.items() if value is not None}


def zone_input(html: str) -> str | None:
    """The value of the step-1 time-zone input, None when there is no such input."""
    found = re.search(r'<input[^>]*name="timezone"[^>]*>', html)
    if found is None:
        return None
    value = re.search(r'value="([^"]*)"', found.group(0))
    return value.group(1) if value else ""


def save_step_two(client, response) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    chosen = chosen_statuses(page)
    saved = post(client, mapping_url, chosen)
    assert saved.status_code == 302, saved.get_data(as_text=True)


def test_R_IMP_8_the_wizard_offers_the_zone_for_cartum_only_and_keeps_it(client, office, redis):
    """Step 1 asks for the shop's time zone where the platform's times carry no offset (Cartum:
    Europe/Kyiv preselected; Shopify's times carry theirs, so it asks nothing). An unknown zone is
    a field error saying what to type; the zone is saved, shown on the store page and editable."""
    sign_in(client, "admin")
    assert zone_input(client.get("/settings/stores/new?platform=cartum").get_data(as_text=True)) == "Europe/Kyiv"
    assert zone_input(client.get("/settings/stores/new?platform=shopify").get_data(as_text=True)) is None
    switched = post(client, "/settings/stores/form", {"platform": "cartum"}, page="/settings/stores/new")
    assert zone_input(switched.get_data(as_text=True)) == "Europe/Kyiv"  # choosing Cartum shows it

    with serving("cartum", orders=5) as sim:
        wrong = post(client, "/settings/stores/new", step_one(office, "cartum", sim.url, timezone="Kyiv"))
        html = wrong.get_data(as_text=True)
        assert wrong.status_code == 422 and zone_input(html) == "Kyiv"
        assert "time zone" in html and "Europe/Kyiv" in html
        assert db.session.scalar(select(Store.id)) is None

        save_step_two(client, post(client, "/settings/stores/new",
                                   step_one(office, "cartum", sim.url, timezone="Europe/Kyiv")))
        store = db.session.scalar(select(Store))
        store_id = store.id
        assert store.timezone == "Europe/Kyiv"
        page = client.get(f"/settings/stores/{store_id}").get_data(as_text=True)
        assert re.search(r"<dt>Time zone</dt>\s*<dd>Europe/Kyiv", page)

        edit = client.get(f"/settings/stores/{store_id}/edit").get_data(as_text=True)
        assert zone_input(edit) == "Europe/Kyiv"
        changed = step_one(office, "cartum", sim.url, timezone="Europe/Warsaw",
                           credential_login=None, credential_password=None)  # blank: the saved ones stay
        save_step_two(client, post(client, f"/settings/stores/{store_id}/edit", changed))
    db.session.remove()
    assert db.session.get(Store, store_id).timezone == "Europe/Warsaw"
    page = client.get(f"/settings/stores/{store_id}").get_data(as_text=True)
    assert re.search(r"<dt>Time zone</dt>\s*<dd>Europe/Warsaw", page)
    db.session.get(Store, store_id).timezone = ""  # saved before the wizard asked
    db.session.commit()
    page = client.get(f"/settings/stores/{store_id}").get_data(as_text=True)
    assert re.search(r"<dt>Time zone</dt>\s*<dd>Europe/Kyiv \(Cartum(&#39;|')s default\)", page)
    assert zone_input(client.get(f"/settings/stores/{store_id}/edit").get_data(as_text=True)) == "Europe/Kyiv"
