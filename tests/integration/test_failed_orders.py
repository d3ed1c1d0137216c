"""Failed orders are retried by every later sync (R-REL-5), on the app, the database, Redis and
the simulators: an order that fails in the initial import is kept in ``failed_orders``, the
store page counts it, and the next sync re-reads it by id and imports it although nothing
changed on the shop; one the shop no longer has is dropped with a sync-log line.

The failure: no condition of the shop's data makes one order fail on both databases and then
succeed unchanged, so a fault is injected into the importer for that one order and that one run
(the database and Redis are real; only the shops are simulated)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.integration.test_shop_identity import count, live_store, reload, work_and_reload
from tests.integration.test_stores import connect, office  # noqa: F401
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import FailedOrder, LogLevel, Order, RunKind, SyncLogEntry, SyncRun
from webapp.models.types import utcnow
from webapp.sync import importer

PLATFORMS = ("cartum", "shopify", "woocommerce")


class OneOrderFault:
    """The first order the importer creates that has not changed for a week fails, until
    ``clear`` (say the database dropped the connection mid-insert); ``failed`` is its external id.
    A recent one would come in with the next sync's window anyway: the retry would not be seen."""

    def __init__(self, monkeypatch):
        self.failed: str | None = None
        real, week_ago = importer._create, utcnow() - timedelta(days=7)

        def create(page, remote):
            chosen = remote.external_id == self.failed or (self.failed is None and remote.created_at < week_ago)
            if chosen and self.active:
                self.failed = remote.external_id
                raise RuntimeError("the server closed the connection unexpectedly")
            return real(page, remote)

        self.active = True
        monkeypatch.setattr(importer, "_create", create)

    def clear(self) -> None:
        self.active = False


def sync_now(client, store_id: int, world) -> None:
    assert post(client, f"/settings/stores/{store_id}/sync", page=f"/settings/stores/{store_id}").status_code == 302
    work_and_reload(world)


def store_page(client, store_id: int) -> str:
    return client.get(f"/settings/stores/{store_id}").get_data(as_text=True)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_REL_5_an_order_failed_in_the_initial_import_comes_in_with_the_next_sync(
        client, office, redis, monkeypatch, platform):
    sign_in(client, "admin")
    fault = OneOrderFault(monkeypatch)
    with serving(platform, orders=40) as sim:
        connect(client, office, platform, sim)
        work_and_reload(office)
        fault.clear()
        store_id = live_store().id
        [kept] = db.session.scalars(select(FailedOrder)).all()
        assert (kept.store_id, kept.external_id, kept.attempts) == (store_id, fault.failed, 1)
        assert "the server closed the connection unexpectedly" in kept.reason
        before = store_page(client, store_id)
        assert "1 order could not be imported; every sync tries it again" in " ".join(before.split())
        assert f'href="/settings/stores/{store_id}/log"' in before
        imported = count(Order)
        sync_now(client, store_id, office)
    run = db.session.scalar(select(SyncRun).where(SyncRun.kind != RunKind.INITIAL).order_by(SyncRun.id.desc()))
    assert (run.created, run.failed) == (1, 0) and count(Order) == imported + 1
    assert db.session.scalar(select(Order).filter_by(external_id=fault.failed)).store_id == store_id
    assert count(FailedOrder) == 0 and "could not be imported" not in store_page(client, store_id)


def test_R_REL_5_a_failing_order_counts_its_attempts_and_one_gone_from_the_shop_is_dropped(
        client, office, redis, monkeypatch):
    sign_in(client, "admin")
    fault = OneOrderFault(monkeypatch)
    with serving("woocommerce", orders=40) as sim:
        connect(client, office, "woocommerce", sim)
        work_and_reload(office)
        store_id = live_store().id
        sync_now(client, store_id, office)  # the fault is still there: tried again, failed again
        assert db.session.scalar(select(FailedOrder.attempts)) == 2
        shop = sim.app.extensions["woocommerce_shop"]
        del shop.orders[int(fault.failed)]  # deleted on the shop (WooCommerce's "delete permanently")
        sync_now(client, store_id, office)
    reload(office)
    assert count(FailedOrder) == 0 and db.session.scalar(select(Order).filter_by(external_id=fault.failed)) is None
    [line] = db.session.scalars(select(SyncLogEntry).filter_by(external_id=fault.failed, level=LogLevel.SKIPPED))
    assert "is no longer on the shop" in line.reason and "not tried again" in line.reason
    assert "could not be imported;" not in store_page(client, store_id)
