"""Role in ``sync/``: the frame every sync job runs in, whatever it reads.

``run_store_job`` takes the store's lock, moves the SyncRun through RUNNING to SUCCEEDED or
FAILED, and records a failure where an employee sees it: on the run (``error``), on the
store (``last_error``, ``last_error_at``) and in the store's log (a ``SyncLogEntry`` at
level ERROR). The work itself (``body``) writes page by page through ``Context.write``; a
failure rolls back only the page in flight, so nothing already committed is lost, and the
next run goes on.

Our own database may falter too (R-REL-2): SQLite locked by another writer, PostgreSQL's
connection dropped. A page is written again after a rollback (its orders are in memory),
a few times with a growing pause; so is the run's start and end. The failure path cannot
fail on what failed before: it works from ids, in a session of its own, and retries a
locked database longer than a page does.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from flask import has_app_context
from redis.exceptions import RedisError
from rq import get_current_job
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from sqlalchemy.orm import Session

from webapp import logs
from webapp.extensions import db
from webapp.models import ImportState, LogLevel, RunKind, RunState, Store, SyncLogEntry, SyncRun
from webapp.models.types import utcnow
from webapp.platforms.base import AuthFailed, Platform, PlatformError
from webapp.secrets import SecretUnreadable
from webapp.sync.catalogue import StoreCatalogue
from webapp.sync.limits import LOCK_SECONDS, LockLost, StoreLock, store_lock
from webapp.sync.platform import platform_for

log = logging.getLogger(__name__)
T = TypeVar("T")

UNEXPECTED = ("The sync stopped on an unexpected error; it is tried again by itself. If this "
              "keeps happening, tell your administrator (the details are in the worker's log).")
INACTIVE = "The store is disabled or deleted, so it was not synced."
STOPPED = "The store was deleted or switched off during the run, so the run stopped there."
BUSY = ("Another sync of this store was running, so this one did not start. Nothing to do: the next "
        "sync starts by itself within 5 minutes (or press Sync now in a minute).")
IMPORTED = "Another run finished this store's import while this one waited, so there was nothing left to do."
BUSY_WAIT = LOCK_SECONDS + 5
"""Seconds an import or sync waits for its store's lock: long enough for the lock of a dead
holder (a killed worker, a Redis restarted with the lock kept) to expire."""
DATABASE = ("The sync stopped because the database was busy or unreachable ({detail}). Nothing "
            "already imported is lost, and the next sync goes on from there by itself. If this "
            "keeps happening, tell your administrator: another program may hold the database "
            "file locked, or the database server may be down.")

REDIS = ("The sync stopped because the background service Redis could not be reached (it was "
         "restarted or is down). Nothing already imported is lost; the sync goes on by itself once "
         "Redis answers. If this keeps happening, tell your administrator.")

PAGE_ATTEMPTS = 3  # a page (or the run's start or end) written at most this often
RECORD_ATTEMPTS = 8  # the failure's record: longer, as it is what the employee sees
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 8.0  # seconds between attempts, doubling


class StoreSwitchedOff(Exception):
    """The store was deleted or switched off while its run was going on."""


Progress = Callable[[SyncRun], None]
"""Called after each committed page with the run, for a foreground progress display."""


def transient(error: BaseException) -> bool:
    """A database fault that passes by itself: SQLite locked (OperationalError), PostgreSQL's
    connection lost (invalidated), or a transaction left broken by one of those."""
    return (isinstance(error, (OperationalError, PendingRollbackError))
            or (isinstance(error, DBAPIError) and error.connection_invalidated))


def again_if_transient(write: Callable[[], T], *, attempts: int, what: str, session=None) -> T:
    """``write()``, done again after a rollback of ``session`` while the database falters.

    ``write`` must make every change itself: the rollback forgets what it did before."""
    session = session or db.session
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:
            if not transient(error) or attempt == attempts:
                raise
            _roll_back(session)
            pause = min(FIRST_PAUSE * 2 ** (attempt - 1), LONGEST_PAUSE)
            log.warning("%s: database fault (%s); again in %.1f s (attempt %d of %d)",
                        what, _first_line(error), pause, attempt + 1, attempts)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _roll_back(session) -> None:
    """End the failed transaction (and release SQLite's lock); never raises."""
    try:
        session.rollback()
    except Exception:  # the connection is gone: drop it, the pool makes a new one
        log.warning("rollback failed; discarding the connection", exc_info=True)
        try:
            session.invalidate()
        except Exception:
            log.warning("could not discard the connection", exc_info=True)


@dataclass
class Context:
    """What a job body works with; ``write`` makes and commits one page (lock checked first)."""

    store: Store
    run: SyncRun
    lock: StoreLock
    progress: Progress | None = None
    store_id: int = field(init=False)
    _platform: Platform | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.store_id = self.store.id  # for messages: after a rollback the ORM's is expired

    @property
    def platform(self) -> Platform:
        """The store's adapter, one for the whole run: every read of the run (new orders, the
        open ones re-read, failed ones retried) shares its sign-in and what it looked up, so a
        Cartum run signs in once and exports each article's catalogue entry once. It is told
        what the catalogue already has (``StoreCatalogue``), and reads only the products it lacks."""
        if self._platform is None:
            self._platform = platform_for(self.store)
            self._platform.catalogue = StoreCatalogue(self.store)
        return self._platform

    def write(self, page: Callable[[], object]) -> None:
        """``page()`` makes the page's changes; they are committed, and made again after a
        rollback when the database falters (PAGE_ATTEMPTS)."""
        def attempt() -> None:
            page()
            self.lock.check()
            db.session.commit()
        again_if_transient(attempt, attempts=PAGE_ATTEMPTS, what=f"store {self.store_id}: page")
        self._committed()

    def _committed(self) -> None:
        if self.progress:
            self.progress(self.run)
        again_if_transient(self._check_store, attempts=PAGE_ATTEMPTS, what=f"store {self.store_id}: store check")

    def _check_store(self) -> None:
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
        current = get_current_job()
        try:
            with logs.bound(job=current.id if current else None):
                return job(*args, **kwargs)
        finally:
            db.session.remove()
    return wrapper


def run_store_job(store_id: int, run_id: int | None, kind: RunKind, body: Callable[[Context], None],
                  *, wait: float = 0, progress: Progress | None = None) -> int | None:
    """Run ``body`` for an active store under its lock; the run's id, or None when nothing ran.
    Every log line meanwhile says the store and the run (``logs.bound``)."""
    with logs.bound(store=store_id, run=run_id):
        return _run_locked(store_id, run_id, kind, body, wait, progress)


def _run_locked(store_id: int, run_id: int | None, kind: RunKind, body: Callable[[Context], None],
                wait: float, progress: Progress | None) -> int | None:
    store = db.session.get(Store, store_id)
    if store is None or store.deleted_at is not None or not store.enabled:
        _close_skipped(run_id, INACTIVE)
        return None
    with store_lock(store_id, wait=wait) as lock:
        if lock is None:
            _close_skipped(run_id, BUSY)  # never left QUEUED without a word (R-REL-3)
            return None
        if lock.waited and kind == RunKind.INITIAL and _import_done(store_id):
            _close_skipped(run_id, IMPORTED, RunState.SUCCEEDED)  # the run we waited for did it
            return None
        try:
            run_id = again_if_transient(functools.partial(_start, store_id, run_id, kind),
                                        attempts=PAGE_ATTEMPTS, what=f"store {store_id}: run start")
        except Exception as error:
            if not transient(error):
                raise
            return _fail(store_id, run_id, DATABASE.format(detail=_first_line(error)), kind)
        with logs.bound(run=run_id):  # a run made now has its id only from here
            log.info("%s run started", kind.value)
            return _run(store_id, run_id, Context(db.session.get(Store, store_id), db.session.get(SyncRun, run_id),
                                                  lock, progress), body)


def _run(store_id: int, run_id: int, ctx: Context, body: Callable[[Context], None]) -> int | None:
    # Only ids from here on: after a failed flush every ORM attribute is expired.
    try:
        body(ctx)
        return again_if_transient(functools.partial(_succeed, store_id, run_id),
                                  attempts=PAGE_ATTEMPTS, what=f"store {store_id}: run end")
    except StoreSwitchedOff:
        return _stopped(run_id)
    except (PlatformError, SecretUnreadable, LockLost) as error:
        return _fail(store_id, run_id, _message(error))
    except RedisError as error:
        log.warning("store %s: run %s stopped: Redis: %s", store_id, run_id, error)
        return _fail(store_id, run_id, REDIS)
    except ValueError as error:  # the importer's "edit the store" (no location, ...)
        log.exception("store %s: run %s stopped", store_id, run_id)
        return _fail(store_id, run_id, str(error))
    except Exception as error:
        if transient(error):
            log.exception("store %s: run %s stopped on a database fault", store_id, run_id)
            return _fail(store_id, run_id, DATABASE.format(detail=_first_line(error)))
        log.exception("store %s: run %s failed", store_id, run_id)
        _fail(store_id, run_id, UNEXPECTED)
        raise  # RQ keeps the traceback in its failed-job registry


def _message(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    if isinstance(error, AuthFailed) and "edit the store" not in message.lower():
        # The adapter speaks to whoever types the credentials; after a run, say where to fix them.
        message += " If the password or key was changed on the platform, edit the store and enter the new one."
    return message


def _start(store_id: int, run_id: int | None, kind: RunKind) -> int:
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is None or run.store_id != store_id:
        run = SyncRun(store_id=store_id, kind=kind)
        db.session.add(run)
    run.state = RunState.RUNNING
    run.started_at = run.started_at or utcnow()  # a resumed run keeps its start (synced_until)
    run.finished_at = None
    run.error = None
    db.session.commit()
    return run.id


def _succeed(store_id: int, run_id: int) -> int:
    store, run = db.session.get(Store, store_id), db.session.get(SyncRun, run_id)
    run.state = RunState.SUCCEEDED
    run.finished_at = store.last_success_at = utcnow()
    store.last_error = store.last_error_at = None
    db.session.commit()
    log.info("run succeeded: %s fetched, %s created, %s updated, %s unchanged, %s skipped, %s failed",
             run.fetched, run.created, run.updated, run.unchanged, run.skipped, run.failed)
    return run_id


def _fail(store_id: int, run_id: int | None, message: str, kind: RunKind | None = None) -> int | None:
    """Record the failure on the run, the store and the sync log, in a session of its own.

    Never raises: if the database stays out of reach, the worker's log says so and the
    dead-run tick (``schedule``) finds the run still RUNNING with its store lock free."""
    _roll_back(db.session)  # the page in flight only; earlier pages are committed
    try:
        with Session(db.engine) as session:
            run_id = again_if_transient(
                functools.partial(_record_failure, session, store_id, run_id, kind, message),
                attempts=RECORD_ATTEMPTS, what=f"store {store_id}: recording a failure", session=session)
    except Exception:
        log.exception("store %s: run %s failed (%s), and the failure could not be recorded",
                      store_id, run_id, message)
        return None
    log.warning("store %s: run %s failed: %s", store_id, run_id, message)
    return run_id


def _record_failure(session: Session, store_id: int, run_id: int | None, kind: RunKind | None,
                    message: str) -> int:
    run = session.get(SyncRun, run_id) if run_id else None
    if run is None:  # the run's own start met the fault: the failure still gets a run
        run = SyncRun(store_id=store_id, kind=kind or RunKind.MANUAL, started_at=utcnow())
        session.add(run)
    store = session.get(Store, store_id)
    run.state, run.error = RunState.FAILED, message
    run.finished_at = store.last_error_at = utcnow()
    store.last_error = message
    session.flush()
    session.add(SyncLogEntry(store_id=store_id, run_id=run.id, level=LogLevel.ERROR, reason=message))
    session.commit()
    return run.id


def _stopped(run_id: int) -> int:
    """Not a failure of the shop: the store's record keeps its state, the run says why it ended."""
    _roll_back(db.session)
    run = db.session.get(SyncRun, run_id)
    run.state, run.error, run.finished_at = RunState.FAILED, STOPPED, utcnow()
    db.session.commit()
    return run_id


def _close_skipped(run_id: int | None, reason: str, state: RunState = RunState.FAILED) -> None:
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is not None and run.state in (RunState.QUEUED, RunState.RUNNING):
        run.state, run.error, run.finished_at = state, reason, utcnow()
        db.session.commit()


def _import_done(store_id: int) -> bool:
    store = db.session.get(Store, store_id)
    db.session.refresh(store)
    return store.import_state == ImportState.DONE
