"""Role in ``sync/``: the frame every sync job runs in, whatever it reads.

``run_store_job`` takes the store's lock, moves the SyncRun through RUNNING to SUCCEEDED or
FAILED, and records a failure where an employee sees it: on the run (``error``), on the
store (``last_error``, ``last_error_at``) and in the store's log (a ``SyncLogEntry`` at
level ERROR). The work itself (``body``) commits page by page; a failure rolls back only
the page in flight, so nothing already committed is lost, and the next run goes on.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import has_app_context

from webapp.extensions import db
from webapp.models import LogLevel, RunKind, RunState, Store, SyncLogEntry, SyncRun
from webapp.models.types import utcnow
from webapp.platforms.base import AuthFailed, PlatformError
from webapp.secrets import SecretUnreadable
from webapp.sync.limits import LockLost, StoreLock, store_lock

log = logging.getLogger(__name__)

UNEXPECTED = ("The sync stopped on an unexpected error; it is tried again by itself. If this "
              "keeps happening, tell your administrator (the details are in the worker's log).")
INACTIVE = "The store is disabled or deleted, so it was not synced."
STOPPED = "The store was deleted or switched off during the run, so the run stopped there."
BUSY = "Another sync of this store was running, so this one did not start; try again shortly."

class StoreSwitchedOff(Exception):
    """The store was deleted or switched off while its run was going on."""


Progress = Callable[[SyncRun], None]
"""Called after each committed page with the run, for a foreground progress display."""


@dataclass
class Context:
    """What a job body works with; ``commit`` ends a page (lock checked first)."""

    store: Store
    run: SyncRun
    lock: StoreLock
    progress: Progress | None = None

    def commit(self) -> None:
        self.lock.check()
        db.session.commit()
        if self.progress:
            self.progress(self.run)
        db.session.refresh(self.store)
        if self.store.deleted_at is not None or not self.store.enabled:
            raise StoreSwitchedOff(STOPPED)  # R-CON-7: deleting stops the sync at once


def in_app_context(job: Callable) -> Callable:
    """Run ``job`` in an app context, and leave no database session behind."""
    @functools.wraps(job)
    def wrapper(*args, **kwargs):
        if not has_app_context():  # started by a plain `rq worker`, not worker.py
            from webapp import create_app

            with create_app().app_context():
                return wrapper(*args, **kwargs)
        try:
            return job(*args, **kwargs)
        finally:
            db.session.remove()
    return wrapper


def run_store_job(store_id: int, run_id: int | None, kind: RunKind, body: Callable[[Context], None],
                  *, wait: float = 0, progress: Progress | None = None) -> SyncRun | None:
    """Run ``body`` for an active store under its lock; the run, or None when nothing ran."""
    store = db.session.get(Store, store_id)
    if store is None or store.deleted_at is not None or not store.enabled:
        _close_skipped(run_id, INACTIVE)
        return None
    with store_lock(store_id, wait=wait) as lock:
        if lock is None:
            if kind == RunKind.MANUAL and run_id:  # no tick retries an order update
                _close_skipped(run_id, BUSY)
            return None
        run = _start(store, run_id, kind)
        try:
            body(Context(store, run, lock, progress))
        except StoreSwitchedOff:
            return _stopped(run.id)
        except (PlatformError, SecretUnreadable, LockLost) as error:
            return _fail(store_id, run.id, _message(error))
        except ValueError as error:  # the importer's "edit the store" (no location, ...)
            log.exception("store %s: run %s stopped", store_id, run.id)
            return _fail(store_id, run.id, str(error))
        except Exception:
            log.exception("store %s: run %s failed", store_id, run.id)
            _fail(store_id, run.id, UNEXPECTED)
            raise  # RQ keeps the traceback in its failed-job registry
        return _succeed(store, run)


def _message(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    if isinstance(error, AuthFailed) and "edit the store" not in message.lower():
        # The adapter speaks to whoever types the credentials; after a run, say where to fix them.
        message += " If the password or key was changed on the platform, edit the store and enter the new one."
    return message


def _start(store: Store, run_id: int | None, kind: RunKind) -> SyncRun:
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is None or run.store_id != store.id:
        run = SyncRun(store_id=store.id, kind=kind)
        db.session.add(run)
    run.state = RunState.RUNNING
    run.started_at = run.started_at or utcnow()  # a resumed run keeps its start (synced_until)
    run.finished_at = None
    run.error = None
    db.session.commit()
    return run


def _succeed(store: Store, run: SyncRun) -> SyncRun:
    run.state = RunState.SUCCEEDED
    run.finished_at = store.last_success_at = utcnow()
    store.last_error = store.last_error_at = None
    db.session.commit()
    return run


def _fail(store_id: int, run_id: int, message: str) -> SyncRun:
    db.session.rollback()  # the page in flight only; earlier pages are committed
    store, run = db.session.get(Store, store_id), db.session.get(SyncRun, run_id)
    run.state, run.error = RunState.FAILED, message
    run.finished_at = store.last_error_at = utcnow()
    store.last_error = message
    db.session.add(SyncLogEntry(store_id=store_id, run_id=run_id, level=LogLevel.ERROR, reason=message))
    db.session.commit()
    log.warning("store %s: run %s failed: %s", store_id, run_id, message)
    return run


def _stopped(run_id: int) -> SyncRun:
    """Not a failure of the shop: the store's record keeps its state, the run says why it ended."""
    db.session.rollback()
    run = db.session.get(SyncRun, run_id)
    run.state, run.error, run.finished_at = RunState.FAILED, STOPPED, utcnow()
    db.session.commit()
    return run


def _close_skipped(run_id: int | None, reason: str) -> None:
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is not None and run.state in (RunState.QUEUED, RunState.RUNNING):
        run.state, run.error, run.finished_at = RunState.FAILED, reason, utcnow()
        db.session.commit()
