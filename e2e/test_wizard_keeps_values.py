"""R-CON-4 in the browser: a failed Next (a name of 65 characters, then an unreachable shop) and
Back from step 2 keep every field of step 1 as typed, the password included — kept by the server,
not put back into the page (R-CON-8): the field is empty, says it is kept, and Next uses it."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from e2e.conftest import follow, screenshot
from e2e.test_stores import RIGHT, fill_step_one, open_wizard
from tests.support.services import free_port
from tests.support.simulators import serving


def choose_the_rest(page) -> None:
    """Every other field away from its default, so that a field reset to it would show."""
    page.get_by_label("Integration enabled").uncheck()
    page.get_by_label("Language").select_option("ua")
    page.get_by_label("Identify products by").select_option("article")
    page.get_by_label("Time zone").fill("Europe/Warsaw")
    page.get_by_label("Country of the buyers' phones").select_option("PL")
    page.get_by_label("Selected", exact=True).check()
    page.get_by_label("Maria Manager").check()


def expect_kept(page, name: str, url: str) -> None:
    expect(page.get_by_label("Store name")).to_have_value(name)
    expect(page.get_by_label("Website URL")).to_have_value(url)
    expect(page.get_by_label("Login", exact=True)).to_have_value(RIGHT["cartum"]["Login"])
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_value("")  # never sent back to the browser
    expect(password).to_have_attribute("placeholder", re.compile("kept"))
    expect(page.locator("#step-one")).to_contain_text("leave it empty to use it")
    expect(page.get_by_label("Location").locator("option:checked")).to_have_text("Main workshop")
    expect(page.get_by_label("Order type").locator("option:checked")).to_have_text("Online order")
    expect(page.get_by_label("Integration enabled")).not_to_be_checked()
    expect(page.get_by_label("Language")).to_have_value("ua")
    expect(page.get_by_label("Identify products by")).to_have_value("article")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Warsaw")
    expect(page.get_by_label("Country of the buyers' phones")).to_have_value("PL")
    expect(page.get_by_label("Selected", exact=True)).to_be_checked()
    expect(page.get_by_label("Maria Manager")).to_be_checked()
    expect(page.locator("body")).not_to_contain_text(RIGHT["cartum"]["Password"])


def test_R_CON_4_back_and_a_failed_next_keep_every_field(page, sign_in):
    with serving("cartum", orders=5) as sim:
        sign_in()
        open_wizard(page, "cartum")
        fill_step_one(page, "cartum", "K" * 65, sim.url, RIGHT["cartum"])
        choose_the_rest(page)
        follow(page, page.get_by_role("button", name="Next"))
        expect(page.get_by_text("The store name can have at most 64 characters; shorten it.")).to_be_visible()
        expect_kept(page, "K" * 65, sim.url)
        screenshot(page, "wizard-kept-failed-next")

        nowhere = f"http://127.0.0.1:{free_port()}"
        page.get_by_label("Store name").fill("Kept shop")
        page.get_by_label("Website URL").fill(nowhere)
        follow(page, page.get_by_role("button", name="Next"))
        expect(page.locator("#connect-error")).to_contain_text("Could not reach")
        expect(page.locator("#connect-error")).to_contain_text("Nothing is saved yet")
        expect(page.locator("#connect-error")).not_to_contain_text("by itself")
        expect_kept(page, "Kept shop", nowhere)
        screenshot(page, "wizard-kept-unreachable")

        page.get_by_label("Website URL").fill(sim.url)
        follow(page, page.get_by_role("button", name="Next"))  # the password is not typed again
        expect(page.get_by_role("heading", name="Match the shop's statuses")).to_be_visible()
        follow(page, page.get_by_role("link", name="Back"))
        expect_kept(page, "Kept shop", sim.url)
        screenshot(page, "wizard-kept-back")

        follow(page, page.get_by_role("button", name="Next"))
        expect(page.get_by_role("heading", name="Match the shop's statuses")).to_be_visible()
        expect(page.locator("main")).to_contain_text("the shop accepted the access")
