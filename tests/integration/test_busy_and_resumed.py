"""R-REL-2/R-REL-3 at the seams between runs: a run that finds its store's lock taken never
stays QUEUED without a word, a dead holder's lock is waited out, and an import that a fault
interrupted brings in, when it goes on, what the shop changed on the pages read before."""
from __future__ import annotations

from decimal import Decimal

from rq.job import Job, JobStatus

from tests.integration.test_sync_jobs import (
    change_quantity, connect_store, fresh, imported, open_order, work,
)
from tests.integration.test_sync_jobs import quick_budget  # noqa: F401 (autouse: a quicker shop budget)
from tests.support.simulators import serving
from webapp.extensions import db, redis_client
from webapp.models import ImportState, Order, RunState, Store, SyncRun
from webapp.sync import jobs, runner
from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync
from webapp.sync.limits import lock_key, store_lock


FIRST_PAGE_REQUESTS = 4


def test_R_REL_3_a_sync_waits_out_the_lock_a_dead_worker_left_and_runs(office, redis):
    """A killed worker (or a Redis restarted with its keys) leaves the store's lock until it
    expires; the next sync waits for that instead of giving up with its run left QUEUED."""
    with serving("woocommerce", orders=40) as sim:
        store_id = imported("woocommerce", sim)
        redis_client().set(lock_key(store_id), "a dead worker's token", px=1500)
        run_id = enqueue_sync(fresh(Store, store_id)).id
        work()
        assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED


def test_R_REL_3_a_sync_that_finds_its_store_busy_ends_with_the_reason(office, redis, monkeypatch):
    """Choice: a run that could not start because another run kept the store is closed as FAILED
    with a reason that says nothing needs doing; the store itself shows no error."""
    monkeypatch.setattr(jobs, "BUSY_WAIT", 0.5)
    with serving("woocommerce", orders=40) as sim:
        store_id = imported("woocommerce", sim)
        with store_lock(store_id) as held:
            assert held is not None
            run_id = enqueue_sync(fresh(Store, store_id)).id
            work()
        run, store = fresh(SyncRun, run_id), db.session.get(Store, store_id)
        assert run.state == RunState.FAILED and run.error == runner.BUSY and run.finished_at is not None
        assert store.last_error is None


def test_R_REL_2_an_interrupted_import_brings_in_what_changed_on_pages_read_before(office, redis):
    """WooCommerce: the import's first four requests (the count, the first page of 100 and
    its products and categories) pass, then 503s until the run fails. The shop changes an order
    of that first page; the run that finishes the import brings the change in."""
    with serving("woocommerce", orders=240) as sim:
        store = connect_store("woocommerce", sim)
        store_id = store.id
        sim.control("POST", "faults", json={"kind": "503", "count": 6, "after": FIRST_PAGE_REQUESTS})
        first = enqueue_initial_import(store).id
        work()
        assert fresh(SyncRun, first).state == RunState.FAILED
        assert db.session.get(Store, store_id).import_state == ImportState.RUNNING
        order = open_order(store_id)
        assert order is not None, "the first page was not imported: see FIRST_PAGE_REQUESTS"
        order_id, external_id = order.id, order.external_id
        change_quantity("woocommerce", sim, external_id, 9)
        sim.control("DELETE", "faults")

        last = enqueue_initial_import(fresh(Store, store_id)).id
        work()
        assert fresh(SyncRun, last).state == RunState.SUCCEEDED
        assert db.session.get(Store, store_id).import_state == ImportState.DONE
        assert Decimal(9) in [item.quantity for item in db.session.get(Order, order_id).items]


def test_R_REL_3_a_sync_after_a_run_that_ended_while_its_job_stayed_started_starts_anew(office, redis):
    """A worker that recorded its run's failure and then lost Redis leaves its job "started" and
    the store's lock alive (Redis restarted with its keys). The next sync is a new run, not
    the ended one handed back as if it were still going."""
    with serving("woocommerce", orders=40) as sim:
        store_id = imported("woocommerce", sim)
        first_id = enqueue_sync(fresh(Store, store_id)).id
        Job.fetch(f"sync-{store_id}", connection=redis_client()).set_status(JobStatus.STARTED)
        first = fresh(SyncRun, first_id)
        first.state, first.error = RunState.FAILED, runner.REDIS
        db.session.commit()
        redis_client().set(lock_key(store_id), "the dead worker's token", px=1500)

        second_id = enqueue_sync(fresh(Store, store_id)).id
        assert second_id != first_id
        work()
        assert fresh(SyncRun, second_id).state == RunState.SUCCEEDED
