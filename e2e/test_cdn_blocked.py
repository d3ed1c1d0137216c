"""Issue 12: the pages work where htmx's CDN cannot be reached. The CDN URL is refused, as on a
machine without internet; app.js then loads the same pinned file from the app (static/vendor/,
with the same SRI hash), and every live part works as with the CDN: the wizard's platform switch,
the orders filters, "Update now", a store's progress panel and the bell. Each test also checks
that the copy was what ran and that the Content-Security-Policy refused nothing on the way."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from e2e.conftest import follow, screenshot, swapped
from e2e.test_imported_orders import WORKER_MS, imported_woo_store
from e2e.test_security import csp_report, reported, store_with_a_running_import  # noqa: F401 (csp_report is a fixture)
from e2e.test_stores import open_wizard
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Employee, Notification, Order, SyncRun
from webapp.templating import HTMX_FALLBACK, HTMX_SRI, HTMX_URL

COPY = f"/static/{HTMX_FALLBACK}"


@pytest.fixture
def on_the_copy(page, cdn_blocked, csp_report):  # noqa: F811 (the fixture imported above)
    """Records what became of the CDN's htmx and of the app's copy; after the test, checks that
    the CDN's was refused, the copy fetched and run with its hash, and the policy silent."""
    seen = {"cdn failed": 0, "copy": []}
    page.on("requestfailed", lambda request: seen.__setitem__("cdn failed", seen["cdn failed"] + 1)
            if request.url == HTMX_URL else None)
    page.on("response", lambda response: seen["copy"].append(response.status) if response.url.endswith(COPY) else None)
    yield seen
    assert seen["cdn failed"] > 0, "the CDN's htmx was not even asked for: the test proves nothing"
    assert seen["copy"] and set(seen["copy"]) <= {200, 304}, f"the app's htmx was not fetched: {seen}"
    page.wait_for_function("() => window.__e2e.ready && window.htmx !== undefined")
    assert page.evaluate("""(copy) => [...document.scripts].filter((s) => s.src.endsWith(copy))
                                          .map((s) => s.integrity)""", COPY) == [HTMX_SRI]
    reported(page)
    assert csp_report == {"violations": [], "console": [], "errors": []}


@pytest.fixture(scope="module")
def imported_shop(live_app, worker):
    """A small WooCommerce store connected to its simulator, imported by the worker."""
    with serving("woocommerce", orders=5) as sim, live_app.app_context():
        store_id = imported_woo_store(sim, "Offline-proof shop")
        order_id = db.session.scalar(select(Order.id).filter_by(store_id=store_id).order_by(Order.id))
        db.session.remove()
        yield order_id


def test_cdn_blocked_the_wizard_switches_platform(page, sign_in, on_the_copy):
    """Choosing WooCommerce swaps in WooCommerce's fields (an htmx POST: the CSRF header from
    <body> is read by the late htmx too), and a location its managers."""
    sign_in()  # `follow` waits for htmx to have processed each page: the copy's doing here
    open_wizard(page, "woocommerce")  # waits for the platform's fields to be swapped in
    expect(page.get_by_label("Consumer secret", exact=True)).to_be_visible()
    expect(page.get_by_label("Login", exact=True)).to_have_count(0)
    with swapped(page, "/settings/stores/form"):
        page.get_by_label("Location").select_option(label="Main workshop")
    expect(page.get_by_label("Maria Manager")).to_be_visible()
    screenshot(page, "cdn-blocked-wizard")


def test_cdn_blocked_a_filter_narrows_the_orders_table(page, sign_in, on_the_copy):
    sign_in()
    rows = page.locator("#orders-table tbody tr")
    expect(rows.first).to_be_visible()
    everything = rows.count()
    with swapped(page, "status="):
        page.get_by_label("Status").select_option(label="Closed")
    expect(page).to_have_url(re.compile(r"status=\d+"))  # hx-push-url
    expect(rows.first).to_contain_text("Closed")
    assert 0 < rows.count() < everything
    expect(rows.filter(has_not_text="Closed")).to_have_count(0)
    screenshot(page, "cdn-blocked-orders-filtered")


def test_cdn_blocked_update_now_finishes(page, sign_in, base_url, imported_shop, on_the_copy):
    """"Update now" posts through htmx, then the section polls every second until the worker's
    run is done: it ends on "Updated", not on "Updating…"."""
    sign_in()
    page.goto(f"{base_url}/orders/{imported_shop}")
    # The copy loads only after the CDN failed: a click before it is a plain form post (seen in CI).
    page.wait_for_function("() => window.__e2e.ready && window.htmx !== undefined")
    page.get_by_role("button", name="Update now").click()
    expect(page.locator("#order")).to_contain_text("Updated from the shop just now", timeout=WORKER_MS)
    expect(page.get_by_role("button", name="Update now")).to_be_enabled()
    screenshot(page, "cdn-blocked-order-updated")


@pytest.fixture
def store_importing(live_app):
    with store_with_a_running_import(live_app, "Offline progress shop") as ids:
        yield ids


def test_cdn_blocked_the_progress_panel_follows_the_import(page, sign_in, base_url, live_app, store_importing,
                                                          on_the_copy):
    store_id, run_id = store_importing
    sign_in()
    page.goto(f"{base_url}/settings/stores/{store_id}")
    bar = page.locator("#progress progress")
    expect(bar).to_have_attribute("value", "25")
    with live_app.app_context():
        db.session.get(SyncRun, run_id).fetched = 30
        db.session.commit()
        db.session.remove()
    expect(bar).to_have_attribute("value", "75")  # brought by the panel's own polling
    screenshot(page, "cdn-blocked-store-progress")


@pytest.fixture
def news_for_maria(live_app):
    """Adds, when called, one unread notification for Maria; removed afterwards, as other tests
    count hers."""
    added = []

    def add() -> None:
        with live_app.app_context():
            maria = db.session.scalar(select(Employee.id).filter_by(login="maria"))
            told = select(Notification.order_id).filter_by(employee_id=maria)
            order = db.session.scalar(select(Order.id).where(Order.id.not_in(told)).order_by(Order.id))
            db.session.add(Notification(employee_id=maria, order_id=order))
            db.session.commit()
            added.append(order)
            db.session.remove()
    yield add
    with live_app.app_context():
        db.session.execute(delete(Notification).where(Notification.order_id.in_(added)))
        db.session.commit()
        db.session.remove()


def test_cdn_blocked_the_bell_counts_new_orders(page, sign_in, news_for_maria, on_the_copy):
    """The header's counter polls every 10 s: a new notification shows without a reload."""
    sign_in("maria")
    bell = page.locator("#notifications")
    expect(bell).to_be_visible()
    before = int(bell.locator(".count").inner_text()) if bell.locator(".count").count() else 0
    news_for_maria()
    expect(bell.locator(".count")).to_have_text(str(before + 1))
    screenshot(page, "cdn-blocked-bell")


def test_cdn_blocked_and_no_copy_either_the_page_says_so(page, base_url, cdn_blocked):
    """Where the app's copy cannot be loaded either, the page says that its live parts are off
    and what to do, rather than failing without a word."""
    page.route(f"**{COPY}", lambda route: route.abort())
    page.goto(f"{base_url}/login")
    expect(page.locator("#flashes .flash-error")).to_contain_text("live parts are off")
    assert page.evaluate("window.htmx === undefined")
    screenshot(page, "cdn-blocked-no-htmx")
