"""Issue 15, the operations page (Settings > Operations) on the app, the database and the session's
Redis: each store's last successful contact, lag, throughput and failing orders computed from real
rows, the queues' health at the foot with its problems at the top, administrators only, and the
importer keeping ``Store.shop_newest_order_at`` (the newest order the shop has shown a sync),
which never moves back. Nothing of ours is mocked; the shops are the simulators."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.integration.conftest import sign_in
from tests.integration.test_sync_jobs import (  # noqa: F401 (quick_budget: autouse, a quicker shop budget)
    add_remote_order, fresh, imported, quick_budget, work,
)
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import FailedOrder, Order, Role, RunKind, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.sync.enqueue import enqueue_sync
from webapp.sync.queues import QUEUES

URL = "/settings/operations"
TAG = re.compile(r"<[^>]+>")


def cells(html: str, store_id: int) -> dict[str, str]:
    """The store's row on the page: each cell's text by the figure its class names."""
    row = re.search(rf'<tr id="store-{store_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row for store {store_id}"
    found = re.findall(r'<td class="([^"]*)"[^>]*>(.*?)</td>', row.group(1), re.S)
    return {cls.split()[-1]: " ".join(TAG.sub(" ", text).split()) for cls, text in found}


def store(office, name: str, platform: str = "woocommerce", **fields) -> Store:
    return factories.add(Store(platform=platform, name=name, url=f"https://{name.split()[0].lower()}.example",
                               location_id=office.main.id, order_type_id=office.repair.id, **fields))


def placed(office, shop: Store, at, number: str) -> Order:
    """An order imported from ``shop``, placed on the shop at ``at``."""
    return factories.order(office.main, office.repair, factories.client(), store_id=shop.id, shop_id=shop.shop_id,
                           external_id=number, platform_number=number, created_at=at, platform_created_at=at)


def run(shop: Store, state: RunState, finished, created: int = 0, updated: int = 0, **fields) -> SyncRun:
    return factories.add(SyncRun(store_id=shop.id, kind=RunKind.SCHEDULED, state=state, started_at=finished,
                                 finished_at=finished, created=created, updated=updated, **fields))


def test_ops_page_shows_each_stores_lag_throughput_and_failing_orders(client, office, redis):
    """Figures from real rows: lag is the newest order on the shop against the newest imported;
    throughput sums the created and updated orders of the runs finished in the last hour and
    24 hours (failed runs too: their pages were committed); last contact is the newest
    successful run; failing orders count FailedOrder rows and link to the store's sync log."""
    now = utcnow()
    behind = store(office, "Alpha shop", "cartum", shop_newest_order_at=now - timedelta(minutes=90))
    placed(office, behind, now - timedelta(hours=3), "A-1")
    placed(office, behind, now - timedelta(hours=2), "A-2")
    run(behind, RunState.SUCCEEDED, now - timedelta(minutes=10), created=3, updated=2)
    run(behind, RunState.FAILED, now - timedelta(minutes=30), created=1, error="The shop did not answer")
    run(behind, RunState.SUCCEEDED, now - timedelta(hours=5), created=7, updated=1)
    run(behind, RunState.SUCCEEDED, now - timedelta(days=2), created=100)
    for number in ("A-7", "A-8"):
        factories.add(FailedOrder(store_id=behind.id, external_id=number, platform_number=number, reason="broken"))

    level = store(office, "Beta shop", shop_newest_order_at=now - timedelta(hours=1))
    placed(office, level, now - timedelta(hours=1), "B-1")
    run(level, RunState.SUCCEEDED, now - timedelta(minutes=3), created=1)
    run(level, RunState.RUNNING, None, fetched=40, expected=160, created=30, updated=5)

    quiet = store(office, "Gamma shop", "shopify")
    gone = store(office, "Deleted shop", deleted_at=now)

    sign_in(client, "admin")
    html = client.get(URL).get_data(as_text=True)

    alpha = cells(html, behind.id)
    assert alpha["platform"] == "Cartum"
    assert alpha["contact"].endswith("10 min ago")
    assert alpha["lag"].startswith("30 min behind")
    assert (alpha["hour"], alpha["day"], alpha["failing"]) == ("6", "14", "2")
    assert f'href="/settings/stores/{behind.id}/log"' in re.search(
        rf'<tr id="store-{behind.id}".*?</tr>', html, re.S).group(0)

    beta = cells(html, level.id)
    assert beta["lag"].startswith("Up to date") and beta["contact"].endswith("3 min ago")
    assert (beta["hour"], beta["day"], beta["failing"]) == ("1", "1", "0")
    assert "25 %" in beta["running"] and "40 of about 160" in beta["running"]

    gamma = cells(html, quiet.id)
    assert gamma["contact"] == "Never" and gamma["lag"].startswith("Not known yet")
    assert (gamma["hour"], gamma["day"], gamma["failing"]) == ("0", "0", "0")
    assert f'id="store-{gone.id}"' not in html and "Deleted shop" not in html


def test_ops_page_shows_the_queues_with_their_problems_first_and_polls_itself(client, office, redis):
    """The queues' health from sync.health.report(): every queue, and the problems (no worker and
    no scheduler in this test) above the stores; htmx asks for the partial every 10 s."""
    store(office, "Alpha shop")
    sign_in(client, "admin")
    html = client.get(URL).get_data(as_text=True)
    problems = re.search(r'<section[^>]*id="problems".*?</section>', html, re.S)
    assert problems and "The scheduler is not running" in problems.group(0)
    assert html.index('id="problems"') < html.index("Alpha shop") < html.index('id="queues"')
    queues = html[html.index('id="queues"'):]
    for name in QUEUES:
        assert f'id="queue-{name}"' in queues
    assert "no worker" in queues
    assert 'hx-get="/settings/operations"' in html and 'hx-trigger="every 10s"' in html

    partial = client.get(URL, headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "<html" not in body and 'id="queues"' in body
    assert 'hx-trigger="every 10s"' in body and "HX-Request" in partial.headers.get("Vary", "")


def test_ops_page_says_what_to_do_without_stores(client, office, redis):
    """An empty state that points at where stores are connected."""
    sign_in(client, "admin")
    html = " ".join(client.get(URL).get_data(as_text=True).split())
    assert "No stores yet — connect one in" in html and 'href="/settings/stores/"' in html


def test_ops_page_is_for_administrators_only(client, office, redis):
    """A manager is refused the page and its partial (403), whatever link they followed."""
    factories.employee("mira", Role.MANAGER, [office.main])
    sign_in(client, "mira")
    assert client.get(URL).status_code == 403
    assert client.get(URL, headers={"HX-Request": "true"}).status_code == 403


def test_ops_settings_nav_links_to_the_operations_page(client, office, redis):
    """Settings > Operations is one click from every settings page."""
    sign_in(client, "admin")
    assert f'href="{URL}"' in client.get("/settings/employees").get_data(as_text=True)


@pytest.mark.parametrize("platform", ["cartum", "shopify", "woocommerce"])
def test_ops_importer_keeps_the_newest_order_on_the_shop_and_never_moves_it_back(office, redis, platform):
    """The importer sets Store.shop_newest_order_at to the newest created time of the orders it
    is given that are ours to import: after an import that left finished orders out (R-IMP-2),
    newer ones among them, the store is up to date, not behind (a false alarm seen when trying
    docs/deploy.md). A sync bringing an older one (or only older ones) leaves it where it is."""
    with serving(platform, orders=30) as sim:
        store_id = imported(platform, sim)
        first = fresh(Store, store_id).shop_newest_order_at
        newest_imported = db.session.scalar(select(func.max(Order.platform_created_at))
                                            .where(Order.store_id == store_id))
        assert first is not None and first == newest_imported

        new_id = add_remote_order(platform, sim)
        enqueue_sync(fresh(Store, store_id))
        work()
        new = db.session.scalar(select(Order).filter_by(store_id=store_id, external_id=new_id))
        assert new is not None and fresh(Store, store_id).shop_newest_order_at == new.platform_created_at >= first

        ahead = new.platform_created_at + timedelta(days=1)  # as if the shop had shown a newer one
        shop = fresh(Store, store_id)
        shop.shop_newest_order_at = ahead
        db.session.commit()
        later_id = add_remote_order(platform, sim)
        enqueue_sync(fresh(Store, store_id))
        work()
        assert db.session.scalar(select(Order).filter_by(store_id=store_id, external_id=later_id)) is not None
        assert fresh(Store, store_id).shop_newest_order_at == ahead
