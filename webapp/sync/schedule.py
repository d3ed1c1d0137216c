"""Role in ``sync/``: the periodic ticks, run by RQ's own cron scheduler (`python worker.py schedule`).

Every periodic job is listed in ``register``: ``enqueue_due_stores``, which every
minute starts the initial imports still to do (R-CON-6) and the 5-minute syncs (R-IMP-3),
(with the webhooks, R-HOOK-3/4/6: registered where they are not yet, orders they named and
no job took, a slower poll while they work), ``prune_old_rows`` every hour (issue 15: the
sync log, finished runs and webhook delivery keys past their RETAIN_* days, ``retention``),
and ``resume_dead_runs``, which every DEAD_RUN_TICK seconds resumes a run whose worker died
(R-REL-3): a run RUNNING whose store lock is free has no live holder, since a run takes the
lock before it turns RUNNING and turns SUCCEEDED or FAILED before it lets go. With the
lock's LOCK_SECONDS, such a run is noticed and resumed, as the same run from its
checkpoint, well within a minute.
The sync jobs have fixed ids (``enqueue``), and a tick that waited longer than a tick's
interval in the queue is dropped (``ttl``), so nothing piles up behind a busy worker.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from rq.cron import CronScheduler
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ImportState, RunKind, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.sync import retention, webhooks
from webapp.sync.limits import store_locked
from webapp.sync.runner import in_app_context

TICK_EVERY = 60  # seconds between looks for due stores
SYNC_EVERY = timedelta(minutes=5)  # R-IMP-3
DEAD_RUN_TICK = 20  # seconds between looks for dead runs: + LOCK_SECONDS (15) < a minute
PRUNE_EVERY = 3600  # seconds between retention's prunes (issue 15)


@in_app_context
def enqueue_due_stores() -> list[int]:
    """Enqueue the initial import or the sync of every due store; the ids of the runs."""
    from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync  # imports the jobs

    runs, waiting = [], set(webhooks.waiting_stores())
    for store in _active_stores():
        _webhooks_due(store, waiting)
        if not _due(store, utcnow()):
            continue
        start = enqueue_sync if store.import_state == ImportState.DONE else enqueue_initial_import
        runs.append(start(store).id)
    return runs


def _webhooks_due(store: Store, waiting: set[int]) -> None:
    """R-HOOK-4: webhooks registered where they are not yet (PUBLIC_BASE_URL set or changed since,
    a failure an hour ago); R-HOOK-3: orders webhooks named and no job imported yet."""
    if webhooks.due_for_registration(store, utcnow()):
        webhooks.register_later(store)
    failing = store.last_error_at is not None and store.last_error_at > utcnow() - SYNC_EVERY
    if store.id in waiting and not failing and webhooks.has_pending(store.id):
        webhooks.enqueue(store.id)


@in_app_context
def prune_old_rows() -> dict[str, int]:
    """Issue 15: what is older than its RETAIN_* setting deleted (``retention.prune``); how many."""
    return retention.prune()


@in_app_context
def resume_dead_runs() -> list[int]:
    """R-REL-3: the runs left RUNNING by a worker that died, enqueued again; their ids."""
    from webapp.sync.enqueue import resume_dead_run  # imports the jobs

    running = db.session.execute(select(SyncRun.id, SyncRun.store_id).where(SyncRun.state == RunState.RUNNING)).all()
    resumed = []
    for run_id, store_id in running:
        if store_locked(store_id):
            continue  # alive (or dead less than LOCK_SECONDS ago: the next tick sees it)
        # Read again after the lock: a run that ended meanwhile is not RUNNING any more.
        run = db.session.get(SyncRun, run_id, populate_existing=True)
        if run.state == RunState.RUNNING:
            resumed.append(resume_dead_run(run).id)
    return resumed


def _active_stores() -> list[Store]:
    return list(db.session.scalars(
        select(Store).where(Store.enabled.is_(True), Store.deleted_at.is_(None)).order_by(Store.id)))


def _due(store: Store, now: datetime) -> bool:
    """No import or sync yet, or the last one started (or was queued) SYNC_EVERY ago; while
    the store's webhooks work, WEBHOOK_POLL_MINUTES ago (R-HOOK-6: the poll stays, as the
    reconciler of what they missed).

    Also true for an import whose worker died, or that failed: it goes on from its
    checkpoint, at the sync's pace rather than hammering a shop that refused us.
    """
    last = db.session.execute(
        select(SyncRun.started_at, SyncRun.created_at)
        .where(SyncRun.store_id == store.id, SyncRun.kind.in_([RunKind.INITIAL, RunKind.SCHEDULED]))
        .order_by(SyncRun.id.desc()).limit(1)).first()
    every = webhooks.poll_every(store, now) if store.import_state == ImportState.DONE else SYNC_EVERY
    return last is None or (last.started_at or last.created_at) <= now - every


def register(scheduler: CronScheduler) -> None:
    scheduler.register(enqueue_due_stores, queue_name="default", interval=TICK_EVERY,
                       ttl=TICK_EVERY, result_ttl=TICK_EVERY * 5)
    scheduler.register(resume_dead_runs, queue_name="default", interval=DEAD_RUN_TICK,
                       ttl=DEAD_RUN_TICK, result_ttl=DEAD_RUN_TICK * 5)
    # A first prune of a big database may take minutes; stopped by its timeout, it goes on next hour.
    scheduler.register(prune_old_rows, queue_name="default", interval=PRUNE_EVERY, ttl=PRUNE_EVERY,
                       result_ttl=PRUNE_EVERY, job_timeout=PRUNE_EVERY // 2)
