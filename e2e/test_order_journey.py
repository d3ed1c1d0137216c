"""An employee's day with one order: find it, open it, move it on, comment, write off."""
import re
from decimal import Decimal

from playwright.sync_api import expect

from e2e.conftest import follow, screenshot, swapped


def test_sign_in_filter_open_change_status_comment_and_write_off(page, sign_in, base_url):
    sign_in()
    # Only the orders created here: other journeys import more from the simulated shops.
    page.get_by_label("Store").select_option("office")
    expect(page.locator("table.orders tbody tr")).to_have_count(8)
    screenshot(page, "orders-table")

    # Filter by status through htmx: the table is swapped and the URL carries the filter.
    page.get_by_label("Status").select_option(label="Waiting for parts")
    expect(page.locator("table.orders tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=\d+"))
    with swapped(page, "/orders/"):  # settled before typing: a late answer would undo the search
        page.get_by_label("Status").select_option(label="All statuses")
    with swapped(page, "q=Kovalenko"):  # typing sends the search after a delay
        page.get_by_label("Search orders").fill("Kovalenko")
    expect(page.locator("table.orders tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"q=Kovalenko"))
    screenshot(page, "orders-table-filtered")

    follow(page, page.locator("table.orders tbody tr").first.get_by_role("link"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order A0000")
    assert page.evaluate("window.htmx !== undefined"), "htmx must load from its CDN URL with the SRI hash"

    page.get_by_label("Status").select_option(label="Handed to courier")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator("#feed .entry").first).to_contain_text("Status changed:")
    expect(page.locator("#feed .entry").first).to_contain_text("→ Handed to courier")
    expect(page.locator(".order-head .badge")).to_have_text("Handed to courier")

    page.get_by_label("Comment").fill("Parcel handed to DHL, tracking sent to the client.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#feed .entry").first).to_contain_text("Parcel handed to DHL")
    expect(page.get_by_label("Comment")).to_have_value("")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Write off").click()
    expect(page.locator("#feed .entry").first).to_contain_text("Products written off: 2 items")
    expect(page.get_by_text("deducted", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Write off")).to_have_count(0)
    screenshot(page, "order-page")


def _total(page) -> Decimal:
    return Decimal(page.locator(".items tfoot th.num").inner_text().split()[0].replace("\u202f", ""))


def test_add_an_item_shows_the_new_total(page, sign_in):
    sign_in()
    follow(page, page.get_by_role("link", name="A00005"))
    before = _total(page)
    page.get_by_text("Add a product or service").click()
    page.get_by_label("Product").select_option(label="Screen protector")
    page.locator("#quantity").fill("2")
    page.locator("#price").fill("9.50")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".items tbody tr")).to_have_count(3)
    expect(page.locator(".items tbody tr").last).to_contain_text("19.00 EUR")
    assert _total(page) == before + Decimal("19.00")


def test_item_form_errors_appear_next_to_the_field(page, sign_in):
    sign_in()
    follow(page, page.get_by_role("link", name="A00006"))
    page.get_by_text("Add a product or service").click()
    page.locator("#price").fill("")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#price-error")).to_have_text("Enter a price.")
