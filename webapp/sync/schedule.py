"""Role in ``sync/``: the periodic ticks, run by RQ's own cron scheduler (`python worker.py schedule`).

Every periodic job is listed in ``register``: the heartbeat that lets the operator see that
the worker and the scheduler are alive (`/healthz`), and ``enqueue_due_stores``, which every
minute starts the initial imports still to do (R-CON-6) and the 5-minute syncs (R-IMP-3).
The sync jobs have fixed ids (``enqueue``), and a tick that waited longer than a tick's
interval in the queue is dropped (``ttl``), so nothing piles up behind a busy worker.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from rq.cron import CronScheduler
from sqlalchemy import select

from webapp.extensions import db, redis_client
from webapp.models import ImportState, RunKind, Store, SyncRun
from webapp.models.types import utcnow
from webapp.sync.runner import in_app_context

HEARTBEAT_KEY = "orderdock:heartbeat"
HEARTBEAT_EVERY = 60  # seconds
TICK_EVERY = 60  # seconds between looks for due stores
SYNC_EVERY = timedelta(minutes=5)  # R-IMP-3


def heartbeat() -> float:
    """Record when a worker last ran a scheduled job; read by the health check."""
    now = time.time()
    redis_client().set(HEARTBEAT_KEY, now, ex=HEARTBEAT_EVERY * 5)
    return now


@in_app_context
def enqueue_due_stores() -> list[int]:
    """Enqueue the initial import or the sync of every due store; the ids of the runs."""
    from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync  # imports the jobs

    runs = []
    for store in _active_stores():
        if not _due(store.id, utcnow()):
            continue
        start = enqueue_sync if store.import_state == ImportState.DONE else enqueue_initial_import
        runs.append(start(store).id)
    return runs


def _active_stores() -> list[Store]:
    return list(db.session.scalars(
        select(Store).where(Store.enabled.is_(True), Store.deleted_at.is_(None)).order_by(Store.id)))


def _due(store_id: int, now: datetime) -> bool:
    """No import or sync yet, or the last one started (or was queued) SYNC_EVERY ago.

    Also true for an import whose worker died, or that failed: it goes on from its
    checkpoint, at the sync's pace rather than hammering a shop that refused us.
    """
    last = db.session.execute(
        select(SyncRun.started_at, SyncRun.created_at)
        .where(SyncRun.store_id == store_id, SyncRun.kind.in_([RunKind.INITIAL, RunKind.SCHEDULED]))
        .order_by(SyncRun.id.desc()).limit(1)).first()
    return last is None or (last.started_at or last.created_at) <= now - SYNC_EVERY


def register(scheduler: CronScheduler) -> None:
    scheduler.register(heartbeat, queue_name="default", interval=HEARTBEAT_EVERY)
    scheduler.register(enqueue_due_stores, queue_name="default", interval=TICK_EVERY,
                       ttl=TICK_EVERY, result_ttl=TICK_EVERY * 5)
