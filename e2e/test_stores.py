"""Connecting, editing and deleting stores in the browser (R-CON-1..8), with each platform's
simulator on loopback and the real background worker (`worker.py work`) doing the import."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.conftest import follow, screenshot, swapped
from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.simulators import serving

RIGHT = {
    "cartum": {"Login": "manager", "Password": "cartum-demo"},
    "shopify": {"Admin API access token": "shpat_simulator"},
    "woocommerce": {"Consumer key": CONSUMER_KEY, "Consumer secret": CONSUMER_SECRET},
}
WRONG = {"cartum": ("Password", "typo-Pa55"), "shopify": ("Admin API access token", "shpat_wrong"),
         "woocommerce": ("Consumer secret", "cs_wrong")}
# An import under a rate limit, on a machine other test suites keep busy, may take minutes:
# a bound on the wait for the panel's state, not a pace.
IMPORT_MS = 180_000
REFUSED = {"cartum": "refused the login", "shopify": "refused", "woocommerce": "refused"}


def open_wizard(page, platform: str) -> None:
    follow(page, page.get_by_role("link", name="Settings"))
    follow(page, page.locator(".subnav").get_by_role("link", name="Stores"))
    follow(page, page.get_by_role("link", name="+ Store").first)
    # The credential fields are swapped in for the platform: wait for that swap to settle, or
    # what is typed next into them is replaced by the fields the swap brings.
    with swapped(page, "/settings/stores/form"):
        page.get_by_label("Platform").select_option(platform)
    expect(page.get_by_label(next(iter(RIGHT[platform])), exact=True)).to_be_visible()


def fill_step_one(page, platform: str, name: str, url: str, credentials: dict) -> None:
    page.get_by_label("Store name").fill(name)
    page.get_by_label("Website URL").fill(url)
    for label, value in credentials.items():
        page.get_by_label(label, exact=True).fill(value)
    # The location's managers are swapped in below it, which moves the Next button: a click
    # before that swap settles can land where the button was.
    with swapped(page, "/settings/stores/form"):
        page.get_by_label("Location").select_option(label="Main workshop")
    page.get_by_label("Order type").select_option(label="Online order")


@pytest.mark.parametrize("platform", ["cartum", "shopify", "woocommerce"])
def test_R_CON_1_to_6_connect_a_store_through_the_wizard(page, sign_in, worker, platform):
    with serving(platform, orders=300) as sim:
        # Slow the shop down a little, so the progress panel is seen moving (429 + Retry-After).
        sim.control("POST", "rate-limit", json={"requests": 2, "per_seconds": 1})
        sign_in()
        open_wizard(page, platform)
        name = f"Wizard {platform}"
        label, wrong = WRONG[platform]
        fill_step_one(page, platform, name, sim.url, {**RIGHT[platform], label: wrong})
        if platform == "cartum":
            page.get_by_label("Language").select_option("en")
        expect(page.get_by_label("Maria Manager")).to_be_visible()  # managers of the location (R-CON-2)
        screenshot(page, f"store-step1-{platform}")
        follow(page, page.get_by_role("button", name="Next"))

        expect(page.locator("#connect-error")).to_contain_text(REFUSED[platform])
        expect(page.get_by_label("Store name")).to_have_value(name)  # nothing typed is lost
        expect(page.get_by_label(label, exact=True)).to_have_value("" if label != "Login" else wrong)
        screenshot(page, f"store-step1-refused-{platform}")
        page.get_by_label(label, exact=True).fill(RIGHT[platform][label])
        follow(page, page.get_by_role("button", name="Next"))

        if platform == "shopify":
            expect(page.get_by_role("heading", name="No statuses to match")).to_be_visible()
        else:
            expect(page.get_by_role("heading", name="Match the shop's statuses")).to_be_visible()
            expect(page.locator("table.mapping select")).not_to_have_count(0)
        screenshot(page, f"store-step2-{platform}")
        follow(page, page.get_by_role("button", name="Save and import orders"))

        panel = page.locator("#progress")
        expect(panel).to_contain_text("Importing")
        expect(panel).to_contain_text(re.compile(r"read [1-9]|Import finished"), timeout=IMPORT_MS)
        if "Importing" in panel.inner_text():  # Shopify's own bucket may let it finish first
            screenshot(page, f"store-progress-{platform}")
        expect(panel).to_contain_text("Import finished", timeout=IMPORT_MS)
        screenshot(page, f"store-imported-{platform}")
        follow(page, page.get_by_role("link", name="See the imported orders"))
        expect(page.locator("#orders-table tbody tr").first).to_be_visible()
        expect(page.get_by_label("Store")).to_have_value(re.compile(r"\d+"))
        screenshot(page, f"orders-from-{platform}")


def test_R_CON_2_a_name_of_65_characters_is_refused(page, sign_in):
    sign_in()
    open_wizard(page, "woocommerce")
    fill_step_one(page, "woocommerce", "W" * 65, "https://shop.example.com", RIGHT["woocommerce"])
    follow(page, page.get_by_role("button", name="Next"))
    screenshot(page, "store-name-too-long")
    expect(page.get_by_text("The store name can have at most 64 characters; shorten it.")).to_be_visible()
    expect(page.get_by_label("Store name")).to_have_value("W" * 65)


def test_R_CON_4_a_cartum_shop_without_api_access_cannot_be_connected(page, sign_in):
    with serving("cartum", orders=5, no_api="1") as sim:
        sign_in()
        open_wizard(page, "cartum")
        fill_step_one(page, "cartum", "No API shop", sim.url, RIGHT["cartum"])
        follow(page, page.get_by_role("button", name="Next"))
        expect(page.locator("#connect-error")).to_contain_text("does not offer API access")
        screenshot(page, "store-no-api")


def connect_quickly(page, sign_in, worker, sim, platform: str, name: str) -> None:
    sign_in()
    open_wizard(page, platform)
    fill_step_one(page, platform, name, sim.url, RIGHT[platform])
    follow(page, page.get_by_role("button", name="Next"))
    follow(page, page.get_by_role("button", name="Save and import orders"))
    expect(page.locator("#progress")).to_contain_text("Import finished", timeout=IMPORT_MS)


def test_R_CON_7_edit_a_store_without_retyping_its_password(page, sign_in, worker):
    with serving("cartum", orders=20) as sim:
        connect_quickly(page, sign_in, worker, sim, "cartum", "Edit me")
        follow(page, page.get_by_role("link", name="Edit"))
        expect(page.get_by_label("Password", exact=True)).to_have_value("")
        page.get_by_label("Store name").fill("Edited shop")
        with swapped(page, "/settings/stores/form"):  # the managers of the new location
            page.get_by_label("Location").select_option(label="City shop")
        screenshot(page, "store-edit")
        follow(page, page.get_by_role("button", name="Next"))
        follow(page, page.get_by_role("button", name="Save", exact=True))
        expect(page.get_by_text("Store Edited shop saved.")).to_be_visible()
        expect(page.locator(".facts")).to_contain_text("City shop")
        follow(page, page.get_by_role("link", name="The whole sync log"))
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        screenshot(page, "store-sync-log")


def test_R_CON_7_delete_a_store_after_confirming_and_its_orders_stay(page, sign_in, worker):
    with serving("woocommerce", orders=20) as sim:
        connect_quickly(page, sign_in, worker, sim, "woocommerce", "Delete me")
        follow(page, page.get_by_role("link", name="Delete"))
        expect(page.get_by_text("stay in the back office")).to_be_visible()
        screenshot(page, "store-delete-confirm")
        follow(page, page.get_by_role("button", name="Delete the store"))
        expect(page.get_by_text("Store Delete me deleted.")).to_be_visible()
        # the list may now be empty (no table at all) or hold other tests' stores: no row names it
        expect(page.locator("table.stores tr", has_text="Delete me")).to_have_count(0)
        follow(page, page.get_by_role("link", name="Orders").first)
        with swapped(page, "store=integrations"):
            page.get_by_label("Store").select_option("integrations")
        expect(page.locator("#orders-table tbody tr").first).to_be_visible()


def test_R_REL_1_connect_a_deleted_stores_shop_again_and_its_orders_are_kept(page, sign_in, worker):
    """Delete a store, connect the same shop again: step 2 says its orders are already here, and
    after the import the orders table has each shop order once, under the new store."""
    with serving("woocommerce", orders=20) as sim:
        connect_quickly(page, sign_in, worker, sim, "woocommerce", "First time")
        imported = int(re.search(r"(\d+) imported", page.locator(".facts").inner_text()).group(1))
        follow(page, page.get_by_role("link", name="Delete"))
        follow(page, page.get_by_role("button", name="Delete the store"))
        expect(page.get_by_text("Store First time deleted.")).to_be_visible()

        open_wizard(page, "woocommerce")
        fill_step_one(page, "woocommerce", "Second time", sim.url, RIGHT["woocommerce"])
        follow(page, page.get_by_role("button", name="Next"))
        expect(page.locator("main")).to_contain_text(re.compile(r"\d+ orders? from this shop (is|are) already here"))
        expect(page.locator("main")).to_contain_text("First time")
        screenshot(page, "store-reconnect-step2")
        follow(page, page.get_by_role("button", name="Save and import orders"))
        expect(page.locator("#progress")).to_contain_text("Import finished", timeout=IMPORT_MS)
        screenshot(page, "store-reconnected")
        follow(page, page.get_by_role("link", name="Orders").first)
        with swapped(page, "store="):
            page.get_by_label("Store").select_option(label="Second time")
        rows = page.locator("#orders-table tbody tr")
        expect(rows.first).to_be_visible()
        expect(rows).to_have_count(imported)  # each shop order once, none left with the old store
        expect(page.locator("#orders-table tbody")).not_to_contain_text("First time")
        screenshot(page, "store-reconnected-orders")
