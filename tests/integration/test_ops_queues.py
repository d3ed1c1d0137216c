"""Issue 15, "Growing": queues per kind of work, so that initial imports cannot starve the 5-minute
syncs, the webhooks or the status pushes.

Real processes on the test's own Redis and database, as on a VPS or on several machines: two
workers on the "initial" queue, one on "default" and "sync" (the scheduler's ticks and the
syncs), one on "hooks" and "push", and RQ's cron scheduler. Two large shops on a slow host
import at once, for minutes; meanwhile a small store's scheduled sync, a webhook delivery and
a status push must each be done within seconds, and both imports must still be running then.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.integration.test_ops_health import start_scheduler, stop
from tests.integration.test_sync_jobs import start_worker, wait_until
from tests.integration.test_webhooks import (
    TARGET, change_quantity, connect_store, deliver, delivery, fresh, mapped_store, pushable_order, quantities,
    set_status,
)
from tests.integration.conftest import sign_in
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Order, RunKind, RunState, SyncRun
from webapp.models.types import utcnow
from webapp.sync import status_push
from webapp.sync.enqueue import enqueue_initial_import

LARGE_ORDERS = 4000  # over the simulator's 90 days: about 2,700 in an import's two months
SLOW_SECONDS = 2.0  # each answer of the large shops: an import of 28 pages or more takes a minute
ON_TIME = 20.0  # seconds within which a sync, a webhook's orders and a push must be done


@pytest.fixture(autouse=True)
def pushes_go_at_once(monkeypatch):
    monkeypatch.setattr(status_push, "RETRY_INTERVALS", [0, 0, 0, 0])


def runs(store_id: int, kind: RunKind) -> list[SyncRun]:
    db.session.remove()
    return list(db.session.scalars(select(SyncRun).filter_by(store_id=store_id, kind=kind).order_by(SyncRun.id)))


def test_ops_imports_on_their_own_queue_leave_syncs_webhooks_and_pushes_on_time(app, client, named_office, redis):
    sign_in(client, "admin")
    with serving("woocommerce", orders=60) as small_sim, \
            serving("woocommerce", orders=LARGE_ORDERS, seed=2) as big_a, \
            serving("woocommerce", orders=LARGE_ORDERS, seed=3) as big_b:
        small = mapped_store("woocommerce", small_sim)  # imported here, before the workers start
        last = runs(small, RunKind.INITIAL)[-1]
        last.created_at = last.started_at = utcnow() - timedelta(minutes=6)  # its 5-minute sync is due
        db.session.commit()
        large = []
        for sim in (big_a, big_b):
            sim.control("POST", "slow", json={"seconds": SLOW_SECONDS})
            store = connect_store("woocommerce", sim)
            large.append((store.id, enqueue_initial_import(store).id))

        procs = [start_worker(app, "--queues", "initial"), start_worker(app, "--queues", "initial"),
                 start_worker(app, "--queues", "default,sync"), start_worker(app, "--queues", "hooks,push")]
        try:
            wait_until(lambda: all(fresh(SyncRun, run_id).state == RunState.RUNNING for _, run_id in large),
                       60, "both large imports to be running")
            procs.append(start_scheduler(app))  # its first tick finds the small store due

            began = time.monotonic()
            sync = wait_until(lambda: next((r for r in runs(small, RunKind.SCHEDULED)
                                            if r.state == RunState.SUCCEEDED), None), ON_TIME, "the scheduled sync")
            assert (sync.started_at - sync.created_at).total_seconds() < 5  # it did not wait behind an import
            synced_in = time.monotonic() - began

            order = pushable_order(small, "woocommerce")
            order_id, external_id, quantity = order.id, order.external_id, order.items[0].quantity
            began = time.monotonic()
            change_quantity("woocommerce", small_sim, external_id, int(quantity) + 2)
            assert deliver(client, small, "woocommerce", delivery("woocommerce", small_sim, external_id)).status_code == 200
            wait_until(lambda: quantities(order_id)[0] == quantity + 2, ON_TIME, "the webhook's order")
            hooked_in = time.monotonic() - began

            name, theirs = TARGET["woocommerce"]
            began = time.monotonic()
            set_status(client, order_id, name)
            # Done when the shop has it and the push job has recorded the shop's answer, which it
            # commits just after the shop applied it (seen: the one checked before the other).
            wait_until(lambda: small_sim.control("GET", f"orders/{external_id}")["status"] == theirs
                       and fresh(Order, order_id).platform_status == theirs, ON_TIME,
                       "the status push to reach the shop and be recorded")
            pushed_in = time.monotonic() - began

            still = [fresh(SyncRun, run_id).state for _, run_id in large]
            assert still == [RunState.RUNNING, RunState.RUNNING], "the imports ended before the checks: not shown"
            print(f"\nwhile two imports ran: scheduled sync {synced_in:.1f} s, webhook {hooked_in:.1f} s, "
                  f"push {pushed_in:.1f} s")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    stop(proc)
