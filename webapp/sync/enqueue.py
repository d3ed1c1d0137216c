"""Role in ``sync/``: start background syncs — commit the SyncRun row, then enqueue the job
on its queue ("initial" or "sync") under a fixed job id, so that nothing piles up.

A job id that is queued, or started by a live run, is left alone and its run returned. A
"started" job whose store lock is free belongs to a worker that died (SIGKILL, lost
machine): it is replaced, and the unfinished run it left is reused, so an interrupted
initial import goes on under the same run with its counts. ``resume_dead_run`` does that
for the dead-run tick (R-REL-3).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from webapp.extensions import db, redis_client
from webapp.models import RunKind, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.sync import jobs, webhooks
from webapp.sync.limits import store_locked
from webapp.sync.queues import queue, queue_of

WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED)
TIMEOUTS = {"initial": 6 * 3600, "sync": 3600, "orders": 600}
"""Seconds RQ lets a job run. An initial import of a big shop at 2 requests/s takes hours;
it is resumable, so a timeout costs only the page in flight."""
RESULT_TTL = 3600  # the finished job's id stays visible an hour (health pages, debugging)


def enqueue_initial_import(store: Store) -> SyncRun:
    """R-CON-6/R-IMP-2: the store's initial import in the background."""
    return _enqueue(store, RunKind.INITIAL, f"initial-{store.id}", jobs.initial_import, reuse=True)


def enqueue_sync(store: Store, kind: RunKind = RunKind.SCHEDULED) -> SyncRun:
    """R-IMP-3: a sync of what changed (``kind`` MANUAL for an operator's "sync now")."""
    return _enqueue(store, kind, f"sync-{store.id}", jobs.sync_store, reuse=True)


def enqueue_order_sync(store: Store, external_ids: Sequence[str]) -> SyncRun:
    """R-ORD-3/R-ORD-4: these platform orders re-read now; the same ids never twice at once."""
    ids = sorted({str(i) for i in external_ids})
    digest = hashlib.sha1(",".join(ids).encode()).hexdigest()[:12]
    return _enqueue(store, RunKind.MANUAL, f"orders-{store.id}-{digest}", jobs.sync_orders,
                    reuse=False, args=(ids,))


WORKER_DIED = ("The worker running this sync stopped before it finished (it was restarted or killed). "
               "Nothing is lost and the next sync goes on; for an order's update, press Update again.")


def resume_dead_run(run: SyncRun) -> SyncRun:
    """R-REL-3: a run left RUNNING by a dead worker, enqueued again as the same run. An order
    update that can no longer be told apart (its job is gone) ends FAILED saying so."""
    store = run.store
    if run.kind == RunKind.INITIAL:
        resumed = enqueue_initial_import(store)
    elif run.kind == RunKind.SCHEDULED or _job_run_id(f"sync-{store.id}") == run.id:
        resumed = enqueue_sync(store, run.kind)
    else:
        resumed = None
        if run.kind == RunKind.WEBHOOK:  # its orders wait in Redis: a new job takes them (R-HOOK-3)
            webhooks.enqueue(store.id)
    if resumed is None or resumed.id != run.id:  # never left RUNNING for good
        run.state, run.error, run.finished_at = RunState.FAILED, WORKER_DIED, utcnow()
        db.session.commit()
    return resumed or run


def _job_run_id(job_id: str) -> int | None:
    try:
        return Job.fetch(job_id, connection=redis_client()).kwargs.get("run_id")
    except NoSuchJobError:
        return None


def _enqueue(store: Store, kind: RunKind, job_id: str, func: Callable, *, reuse: bool,
             args: tuple = ()) -> SyncRun:
    # Two web requests or ticks enqueueing the same id at once would both see "no job";
    # the short guard makes check-then-enqueue one step. Its wait is bounded.
    guard = redis_client().lock(f"orderdock:enqueue:{job_id}", timeout=30, blocking_timeout=10)
    with guard:
        live = _live_run(store, job_id)
        if live is not None:
            return live
        run = (_unfinished_run(store, kind) if reuse else None) or SyncRun(store_id=store.id, kind=kind)
        run.state = RunState.QUEUED
        db.session.add(run)
        db.session.commit()  # before the job exists: the worker must find the row
        queue(queue_of(kind)).enqueue(func, store.id, *args, run_id=run.id, job_id=job_id,
                                      job_timeout=TIMEOUTS[job_id.split("-")[0]],
                                      result_ttl=RESULT_TTL, failure_ttl=7 * 86400)
        return run


def _live_run(store: Store, job_id: str) -> SyncRun | None:
    """The run of the job already waiting or running under ``job_id``; None if there is none.

    Any other job under that id (finished, failed, left "started" by a dead worker, or whose
    run has ended) is deleted, so that the new one starts with a clean record.
    """
    try:
        job = Job.fetch(job_id, connection=redis_client())
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    running = status == JobStatus.STARTED and store_locked(store.id)
    run = db.session.get(SyncRun, job.kwargs.get("run_id") or 0)
    unfinished = run is not None and run.state in (RunState.QUEUED, RunState.RUNNING)
    if (status in WAITING or running) and unfinished:
        return run  # a finished run's job left "started" died after recording its end (Redis gone)
    job.delete()
    return None


def _unfinished_run(store: Store, kind: RunKind) -> SyncRun | None:
    """A run of this kind left queued or running (worker killed, or the store was busy)."""
    return db.session.scalar(
        select(SyncRun).where(SyncRun.store_id == store.id, SyncRun.kind == kind,
                              SyncRun.state.in_([RunState.QUEUED, RunState.RUNNING]))
        .order_by(SyncRun.id.desc()).limit(1))
