"""Role in ``sync/``: retention (issue 15). The scheduler's hourly ``prune`` deletes the sync-log
entries older than RETAIN_SYNC_LOG_DAYS, the finished runs older than RETAIN_RUNS_DAYS and the
webhook delivery keys (R-HOOK-3) older than RETAIN_WEBHOOK_DELIVERIES_DAYS.

A run is kept, however old, while a query of the sync still reads it, so pruning never changes
what those queries answer (``_runs_kept``):

- a run QUEUED or RUNNING (``enqueue._unfinished_run``, ``schedule.resume_dead_runs``);
- the newest run of each kind per store (``schedule._due`` reads the newest INITIAL or SCHEDULED
  one, ``progress.panel`` the newest of any kind);
- the store's last run to succeed (the operations page's "last contact" with the shop);
- the store's first INITIAL run to start (``jobs.window_start``: where R-IMP-2's two months
  began, read by every sync);
- the store's newest INITIAL run that succeeded, and the first INITIAL run to start after it
  (``jobs._import_began``: when an import resumed over several runs began).

Feed entries and sync-log entries of a pruned run stay, with ``run_id`` NULL. SQLite here does
not enforce foreign keys (nothing sets ``PRAGMA foreign_keys``), so that is done by hand rather
than left to the schema's ON DELETE SET NULL (which PostgreSQL applies first anyway).

A skip the importer logs once per store (``importer.log_once``) is logged once more if it still
happens after its line was pruned: the log keeps saying why an order is still left out.

Rows go in batches of ``BATCH``, each its own transaction, so a big first prune never holds
SQLite's write lock for long; one that is stopped midway goes on at the next hour.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, delete, func, select, update

from webapp.extensions import db
from webapp.models import FeedEntry, RunKind, RunState, SyncLogEntry, SyncRun, WebhookDelivery
from webapp.models.types import utcnow

log = logging.getLogger(__name__)

BATCH = 1000  # rows per transaction
FINISHED = (RunState.SUCCEEDED, RunState.FAILED)
NO_SYNC = {"synchronize_session": False}  # bulk statements: the session's objects are not looked at


def prune(now: datetime | None = None) -> dict[str, int]:
    """Everything older than its setting deleted; how many of each."""
    now = now or utcnow()
    counts = {"sync_log": forget_old_log(now), "runs": forget_old_runs(now),
              "webhook_deliveries": forget_old_deliveries(now)}
    log.info("retention: deleted %(sync_log)d sync-log entries, %(runs)d sync runs and "
             "%(webhook_deliveries)d webhook delivery keys", counts)
    return counts


def forget_old_log(now: datetime | None = None) -> int:
    cutoff = _cutoff("RETAIN_SYNC_LOG_DAYS", now)
    return _in_batches(SyncLogEntry, SyncLogEntry.created_at < cutoff, _delete_rows(SyncLogEntry))


def forget_old_deliveries(now: datetime | None = None) -> int:
    """R-HOOK-3's keys kept bounded: a repeat comes within hours, so days are enough."""
    cutoff = _cutoff("RETAIN_WEBHOOK_DELIVERIES_DAYS", now)
    return _in_batches(WebhookDelivery, WebhookDelivery.received_at < cutoff, _delete_rows(WebhookDelivery))


def forget_old_runs(now: datetime | None = None) -> int:
    cutoff = _cutoff("RETAIN_RUNS_DAYS", now)
    old = SyncRun.state.in_(FINISHED) & (func.coalesce(SyncRun.finished_at, SyncRun.created_at) < cutoff)
    return _in_batches(SyncRun, old, _delete_runs, keep=_runs_kept())


def _cutoff(setting: str, now: datetime | None) -> datetime:
    return (now or utcnow()) - timedelta(days=current_app.config[setting])


def _in_batches(model, where: ColumnElement, remove: Callable[[list[int]], int],
                keep: Collection[int] = ()) -> int:
    """``remove`` the rows ``where`` selects, but those in ``keep``, BATCH ids per transaction
    (walked by id, so kept rows are passed over, not read again)."""
    deleted, after = 0, 0
    while True:
        ids = db.session.scalars(select(model.id).where(where, model.id > after)
                                 .order_by(model.id).limit(BATCH)).all()
        doomed = [row_id for row_id in ids if row_id not in keep]
        if doomed:
            deleted += remove(doomed)
        db.session.commit()
        if len(ids) < BATCH:
            return deleted
        after = ids[-1]


def _delete_rows(model) -> Callable[[list[int]], int]:
    def remove(ids: list[int]) -> int:
        return db.session.execute(delete(model).where(model.id.in_(ids)), execution_options=NO_SYNC).rowcount
    return remove


def _delete_runs(ids: list[int]) -> int:
    """These runs deleted (still finished: checked again in the statement), their feed and log
    lines kept with no run."""
    gone = db.session.scalars(delete(SyncRun).where(SyncRun.id.in_(ids), SyncRun.state.in_(FINISHED))
                              .returning(SyncRun.id), execution_options=NO_SYNC).all()
    for model in (FeedEntry, SyncLogEntry):
        if gone:
            db.session.execute(update(model).where(model.run_id.in_(gone)).values(run_id=None),
                               execution_options=NO_SYNC)
    return len(gone)


def _runs_kept() -> set[int]:
    """The runs a query of the sync still reads (the module's docstring lists which and why)."""
    newest = select(func.max(SyncRun.id)).group_by(SyncRun.store_id, SyncRun.kind)
    succeeded = dict(db.session.execute(
        select(SyncRun.store_id, func.max(SyncRun.id))
        .where(SyncRun.kind == RunKind.INITIAL, SyncRun.state == RunState.SUCCEEDED)
        .group_by(SyncRun.store_id)).all())
    kept = set(db.session.scalars(newest)) | set(succeeded.values()) | _last_successes()
    for store_id in db.session.scalars(select(SyncRun.store_id).where(SyncRun.kind == RunKind.INITIAL).distinct()):
        kept.add(_first_initial(store_id, after=0))
        kept.add(_first_initial(store_id, after=succeeded.get(store_id, 0)))
    kept.discard(None)
    return kept


def _last_successes() -> set[int]:
    """Each store's run(s) that succeeded last: ``max(finished_at)`` of its successful runs."""
    last = (select(SyncRun.store_id, func.max(SyncRun.finished_at).label("at"))
            .where(SyncRun.state == RunState.SUCCEEDED).group_by(SyncRun.store_id).subquery())
    return set(db.session.scalars(
        select(SyncRun.id).join(last, (SyncRun.store_id == last.c.store_id) & (SyncRun.finished_at == last.c.at))
        .where(SyncRun.state == RunState.SUCCEEDED)))


def _first_initial(store_id: int, after: int) -> int | None:
    """The store's INITIAL run that started first among those after run ``after``: the one
    whose start ``min(started_at)`` in ``jobs`` answers."""
    return db.session.scalar(
        select(SyncRun.id).where(SyncRun.store_id == store_id, SyncRun.kind == RunKind.INITIAL,
                                 SyncRun.id > after, SyncRun.started_at.is_not(None))
        .order_by(SyncRun.started_at, SyncRun.id).limit(1))
