"""Clients, products and settings in the browser: search, detail pages, adding an employee."""
from playwright.sync_api import expect

from e2e.conftest import follow, screenshot, swapped


def test_clients_search_and_detail(page, sign_in, base_url):
    sign_in()
    follow(page, page.get_by_role("link", name="Clients"))
    screenshot(page, "clients")
    with swapped(page, "q=0151 2345"):  # typing sends the search after a delay
        page.get_by_label("Search").fill("0151 2345")
    expect(page.locator("#clients-table tbody tr")).to_have_count(1)
    follow(page, page.get_by_role("link", name="Jonas Weber").first)  # a shop may have a buyer of that name too
    expect(page.get_by_role("heading", name="Jonas Weber")).to_be_visible()
    expect(page.locator("table tbody tr")).to_have_count(2)  # his two demo orders
    screenshot(page, "client-page")


def test_products_search(page, sign_in):
    sign_in()
    follow(page, page.get_by_role("link", name="Products"))
    with swapped(page, "q=BAT-"):  # typing sends the search after a delay
        page.get_by_label("Search").fill("BAT-")
    expect(page.locator("#products-table tbody tr")).to_have_count(1)
    expect(page.locator("#products-table")).to_contain_text("Galaxy S21 battery")
    screenshot(page, "products")


def test_admin_adds_an_engineer_with_one_location(page, sign_in, base_url):
    sign_in()
    follow(page, page.get_by_role("link", name="Settings"))
    follow(page, page.get_by_role("link", name="Employees"))
    follow(page, page.get_by_role("link", name="+ Employee"))
    page.get_by_label("Full name").fill("Nina Newcomer")
    page.get_by_label("Login").fill("nina")
    page.get_by_label("Password").fill("short")
    page.get_by_label("Role").select_option(label="Engineer")
    page.get_by_label("City shop").check()
    follow(page, page.get_by_role("button", name="Save"))
    expect(page.get_by_text("At least 8 characters.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value("Nina Newcomer")  # nothing typed is lost
    page.get_by_label("Password").fill("long enough password")
    follow(page, page.get_by_role("button", name="Save"))
    expect(page.get_by_text("Employee Nina Newcomer saved.")).to_be_visible()
    row = page.locator("tr", has_text="Nina Newcomer")
    expect(row).to_contain_text("City shop")
    screenshot(page, "settings-employees")


def test_engineer_has_no_settings(page, sign_in, base_url):
    sign_in("erik")
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    page.goto(f"{base_url}/settings/employees")
    expect(page.get_by_text("Only an administrator can change settings")).to_be_visible()
