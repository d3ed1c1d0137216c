"""Settings > Operations in the browser (issue 15): an administrator opens it by clicking, sees a
WooCommerce store that the real worker (`worker.py work`) imported from its simulator with its
figures, the queues with that worker, the missing scheduler at the top as a problem, and the
page refreshed by htmx under the Content-Security-Policy; the failing orders link to the sync log."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from e2e.conftest import follow, screenshot, swapped
from e2e.test_imported_orders import imported_woo_store
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import FailedOrder, SyncRun

NAME = "E2E Operations shop"


@pytest.fixture(scope="module")
def ops_shop(live_app, worker):
    """A WooCommerce store imported by the worker, with one order kept for retry (as one the shop
    sent broken would be); its id and the orders its runs wrote."""
    with serving("woocommerce", orders=30) as sim, live_app.app_context():
        store_id = imported_woo_store(sim, NAME)
        db.session.add(FailedOrder(store_id=store_id, external_id="999999", platform_number="999999",
                                   reason="The shop sent the order without its lines."))
        db.session.commit()
        written = db.session.scalar(select(func.sum(SyncRun.created + SyncRun.updated))
                                    .where(SyncRun.store_id == store_id))
        db.session.remove()
        yield store_id, written


def test_ops_admin_opens_settings_operations_and_sees_each_store_and_the_queues(page, sign_in, ops_shop):
    store_id, written = ops_shop
    sign_in()
    follow(page, page.get_by_role("link", name="Settings"))
    follow(page, page.locator(".subnav").get_by_role("link", name="Operations"))
    expect(page.locator(".subnav a.active")).to_have_text("Operations")

    row = page.locator(f"#store-{store_id}")
    expect(row.locator("td.name")).to_contain_text(NAME)
    expect(row.locator("td.platform")).to_have_text("WooCommerce")
    expect(row.locator("td.contact")).to_contain_text("ago")
    expect(row.locator("td.hour")).to_have_text(str(written))
    expect(row.locator("td.failing")).to_have_text("1")
    expect(page.locator("#problems")).to_contain_text("The scheduler is not running")  # no scheduler here
    expect(page.locator("#queue-sync")).to_be_visible()
    expect(page.locator("#workers tbody tr").first).to_be_visible()  # the session's worker
    screenshot(page, "settings-operations")

    with swapped(page, "/settings/operations"):
        pass  # htmx asks for the partial again within 10 s
    expect(row.locator("td.hour")).to_have_text(str(written))

    follow(page, row.locator("td.failing a"))
    expect(page.get_by_role("heading", name=f"Sync log of {NAME}")).to_be_visible()
