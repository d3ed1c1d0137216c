"""The demo a newcomer tries (issue 12): `make run` leaves one demo shop per platform
unconnected, and that shop's own page says what to type into the wizard. Here a spare Cartum
shop is started as the launcher starts it (scripts/run.py: its port and made-up credentials
from ``demo_shops``, the credentials on the simulator's stdin), and the newcomer connects it
with nothing but what its page shows."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from e2e.conftest import follow, screenshot, swapped
from tests.support.launcher import load_launcher

ROOT = Path(__file__).resolve().parent.parent
IMPORT_MS = 180_000  # a bound on the wait for the import on a busy machine, not a pace
START_TIMEOUT = 60.0  # seconds the simulator gets to answer


@pytest.fixture
def spare_shop(tmp_path):
    """The spare Cartum shop, a `python -m simulators` process as `make run` starts it."""
    shops, _ = load_launcher().demo_shops(tmp_path / "instance")
    shop = next(shop for shop in shops if shop.name == "cartum-spare")
    with open(tmp_path / f"{shop.name}.log", "wb") as log:
        proc = subprocess.Popen(shop.argv(), cwd=ROOT, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    proc.stdin.write(shop.stdin().encode())
    proc.stdin.close()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"{shop.url}/_sim/stats"):
            assert proc.poll() is None, (tmp_path / f"{shop.name}.log").read_text()
            assert time.monotonic() < deadline, f"the spare shop did not answer within {START_TIMEOUT:.0f} s"
            time.sleep(0.1)
        yield shop
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_R_CON_1_to_6_a_newcomer_connects_a_spare_demo_shop_from_what_its_page_shows(
        page, sign_in, worker, spare_shop):
    """The newcomer opens the spare shop's page (the banner lists it), reads its Website URL
    and access there, types them into the wizard under the same labels, and the shop's orders
    come in. Nothing comes from the test's knowledge of the shop: every value is read off the
    page, the Language from the page's note."""
    page.goto(f"{spare_shop.url}/_sim/")
    expect(page.get_by_role("heading", name="Cartum spare demo shop control")).to_be_visible()
    expect(page.locator(".spare")).to_contain_text("not connected to Orderdock")
    access = {row.locator("th").inner_text(): row.locator("code").inner_text()
              for row in page.locator("table.access tr").all()}
    assert set(access) == {"Platform", "Website URL", "Login", "Password"}
    language = re.search(r"texts are in (\w+)", page.locator("body").inner_text()).group(1)
    screenshot(page, "demo-spare-shop-control")

    sign_in()
    follow(page, page.get_by_role("link", name="Settings"))
    follow(page, page.locator(".subnav").get_by_role("link", name="Stores"))
    follow(page, page.get_by_role("link", name="+ Store").first)
    with swapped(page, "/settings/stores/form"):  # the platform's credential fields come in
        page.get_by_label("Platform").select_option(label=access.pop("Platform"))
    page.get_by_label("Store name").fill("My first shop")
    for label, value in access.items():  # "Website URL" and the credentials, as the page names them
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Language").select_option(language)
    with swapped(page, "/settings/stores/form"):  # the managers come in and move the Next button
        page.get_by_label("Location").select_option(label="Main workshop")
    page.get_by_label("Order type").select_option(label="Online order")
    follow(page, page.get_by_role("button", name="Next"))

    expect(page.get_by_role("heading", name="Match the shop's statuses")).to_be_visible()
    follow(page, page.get_by_role("button", name="Save and import orders"))
    panel = page.locator("#progress")
    expect(panel).to_contain_text("Import finished", timeout=IMPORT_MS)
    screenshot(page, "demo-spare-shop-connected")

    follow(page, page.get_by_role("link", name="See the imported orders"))
    rows = page.locator("#orders-table tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.first).to_contain_text("My first shop")
    screenshot(page, "demo-spare-shop-orders")
