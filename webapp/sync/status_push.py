"""Role in ``sync/``: status push-back, the way back of R-STA-2 (R-STA-1, R-STA-3, R-STA-4).

After an employee's status change (or a write-off) is committed, ``enqueue_push`` decides
from ``PlatformRules`` alone whether the platform gets the mapped status; if so it queues
``jobs.push_status`` on the "push" queue under the fixed id ``push-<order id>``, so that
repeated clicks collapse into one call. The job reads the order's status when it runs (a
later change wins), calls the adapter and remembers what it sent in
``Order.platform_status``: the next sync reads the same status back, sees no change and
sends nothing, so statuses never loop (pitfalls row 5; the importer's ``_sync_status``).

A push the shop did not answer is retried by RQ (``RETRY_INTERVALS``). What an employee can
act on goes to the order's feed and the store's sync log; a refused password also to the
store's ``last_error``, as a failed sync would, because every later sync will fail too.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from rq import Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.extensions import db, redis_client
from webapp.models import FeedKind, LogLevel, Order, Status, Store, SyncLogEntry
from webapp.models.types import utcnow
from webapp.platforms import PLATFORMS
from webapp.platforms.base import AuthFailed, PlatformError
from webapp.secrets import SecretUnreadable
from webapp.sync.platform import platform_for, rules_for
from webapp.sync.queues import WAITING, job_state, queue

log = logging.getLogger(__name__)

JOB = "webapp.sync.jobs.push_status"  # by name: jobs.py imports this module
RETRY_INTERVALS = [10, 60, 300, 900]
"""Seconds before each new try of a push the shop did not answer (5xx, timeout, 429); the
last gives up about 20 minutes after the change. Tests set them to 0."""
JOB_TIMEOUT = 300  # a push is one call, but the HTTP layer may retry it and wait for the budget
SENT, NOTHING, FAILED = "sent", "nothing to do", "failed"


# ---------------------------------------------------------------------------------------------
# What to send, and whether to send it (pure reads of the rules and the order)
# ---------------------------------------------------------------------------------------------


def platform_status_for(store: Store, status: Status, current: str | None = None) -> str | None:
    """The platform status id mapped to our ``status`` (``store.status_map`` read backwards);
    None when none is.

    Several platform statuses may map to one of ours. Then ``current`` (the order's
    ``platform_status``) wins when it is one of them, so that an order already there is not
    moved sideways; else the first in the map, which is the platform's own order (the wizard
    saves the statuses in the order the shop lists them).
    """
    candidates = [theirs for theirs, ours in (store.status_map or {}).items() if str(ours) == str(status.id)]
    if current in candidates:
        return current
    return candidates[0] if candidates else None


def push_needed(order: Order) -> bool:
    """True when the order's platform should get its status now."""
    if not _pushes_to(order.store):
        return False
    target = _target(order)
    return target is not None and target != order.platform_status and not _held_back(order, target)


def _pushes_to(store: Store | None) -> bool:
    """R-STA-1/3/4: an active store whose platform takes statuses back (not Shopify)."""
    return (store is not None and store.deleted_at is None and store.enabled
            and rules_for(store).statuses_out)


def _target(order: Order) -> str | None:
    return platform_status_for(order.store, order.status, order.platform_status)


def _held_back(order: Order, target: str) -> bool:
    """R-STA-3: e.g. WooCommerce's "completed" waits until the products are written off."""
    return target in rules_for(order.store).completed_needs_write_off and not order.is_written_off


def _title(store: Store) -> str:
    return PLATFORMS[store.platform].title


# ---------------------------------------------------------------------------------------------
# Queueing (the web request's side)
# ---------------------------------------------------------------------------------------------


def enqueue_push(order: Order) -> None:
    """Call after a status change is committed: queue the push, or say in the feed why the
    platform does not get this status."""
    if push_needed(order):
        _enqueue(order.id)
        return
    reason = _not_sent_reason(order)
    if reason is not None:
        order.note(FeedKind.SYSTEM, reason)
        db.session.commit()


def after_write_off(order: Order) -> None:
    """Call after a write-off is committed: a status R-STA-3 held back goes now."""
    if push_needed(order):
        _enqueue(order.id)


def _not_sent_reason(order: Order) -> str | None:
    if not _pushes_to(order.store):
        return None  # an order of our own, Shopify (R-STA-4), or a store switched off
    target, title, name = _target(order), _title(order.store), order.status.name
    if target is None:
        return (f'Not sent to {title}: no {title} status is mapped to "{name}". Map one in the '
                "store's settings to have it sent.")
    if target != order.platform_status and _held_back(order, target):
        return f"Not set to {name} on {title} until the products are written off."
    return None  # the platform already has it


def _enqueue(order_id: int) -> None:
    # A push already running may have read the status before this change, so a second id
    # takes the follow-up; the job's order lock makes it wait for the first one to end.
    job_ids = (f"push-{order_id}", f"push-{order_id}-next")
    guard = redis_client().lock(f"orderdock:enqueue:push-{order_id}", timeout=30, blocking_timeout=10)
    with guard:
        states = {job_id: job_state(job_id) for job_id in job_ids}
        if "waiting" in states.values():
            return  # not started yet: it reads the order's status when it runs
        free = next((job_id for job_id, state in states.items() if state is None), None)
        if free is None:
            return  # both running: the one waiting for the order's lock reads the status after it
        queue("push").enqueue(JOB, order_id, job_id=free, job_timeout=JOB_TIMEOUT,
                              retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                              result_ttl=3600, failure_ttl=7 * 86400)


def pending(order_id: int) -> bool:
    """Whether a push of this order is queued, running or waiting for its next try: the order
    page says "Sending…" and asks again until it is not. Only reads (``job_state`` also
    deletes a finished job, which only the enqueueing side may do). Redis out of reach reads as
    nothing pending: the order page must not fail for want of this hint."""
    for job_id in (f"push-{order_id}", f"push-{order_id}-next"):
        try:
            job = Job.fetch(job_id, connection=redis_client())
        except NoSuchJobError:
            continue
        except RedisError:
            return False
        if job.get_status(refresh=False) in (*WAITING, JobStatus.STARTED):
            return True
    return False


def underway(order_id: int) -> bool:
    """R-HOOK-5: a push of this order is waiting or being sent (its order lock is held). The
    shop's echo of it, read meanwhile, is older than what the employee chose: ``importer``
    leaves the status alone until the push is on record, and reads it again after."""
    return bool(redis_client().exists(f"orderdock:push:{order_id}")) or pending(order_id)


# ---------------------------------------------------------------------------------------------
# Sending (the job's side)
# ---------------------------------------------------------------------------------------------


def push(order_id: int) -> str:
    """The job's body: the order's current status sent to its platform, if still needed.
    Returns SENT, NOTHING or FAILED; raises a retryable error while RQ has retries left."""
    with _order_lock(order_id):
        order = db.session.get(Order, order_id)  # read under the lock: the latest status wins
        if order is None or not push_needed(order):
            return NOTHING
        target = _target(order)
        try:
            platform = platform_for(order.store)
            if not _already_there(platform, order, target):
                platform.push_status(order.external_id, target)
        except (PlatformError, SecretUnreadable) as error:
            if getattr(error, "retryable", False) and _retries_left():
                log.info("order %s: push failed (%s); RQ tries again", order_id, error)
                raise
            _record_failure(order, error)
            return FAILED
        _record_sent(order, target)
        return SENT


@contextmanager
def _order_lock(order_id: int) -> Iterator[None]:
    """One push per order at a time, across workers: two could send two statuses out of order."""
    lock = redis_client().lock(f"orderdock:push:{order_id}", timeout=JOB_TIMEOUT,
                               blocking_timeout=JOB_TIMEOUT / 2)
    if not lock.acquire():
        raise LockError(f"order {order_id}: another push is still running; RQ tries again")
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:
            pass  # expired while we worked: nothing left to release


def _retries_left() -> bool:
    job = get_current_job()
    return bool(job is not None and job.retries_left)


def _already_there(platform, order: Order, target: str) -> bool:
    """On a retry, whether the order already has the status on the platform: the try whose
    answer was lost may have been carried out, and sending it twice may notify the buyer
    twice (Cartum sends ``orders/update`` only once for that reason)."""
    job = get_current_job()
    if job is None or job.retries_left is None or job.retries_left >= len(job.retry_intervals or ()):
        return False  # the first try (each retry has its own interval, see _enqueue)
    found = platform.fetch_orders([order.external_id])
    return bool(found) and found[0].status_id == target


def _record_sent(order: Order, target: str) -> None:
    order.platform_status = target
    order.note(FeedKind.SYSTEM, f"Status sent to {_title(order.store)}: {order.status.name}")
    db.session.commit()


def _record_failure(order: Order, error: Exception) -> None:
    """The feed says what happened and what to do; the store's log lists it with the others."""
    store = order.store
    text = f"Could not set the status on {_title(store)}: {_reason(error)} {_advice(store, error)}"
    order.note(FeedKind.SYSTEM, text)
    db.session.add(SyncLogEntry(store_id=store.id, level=LogLevel.FAILED, external_id=order.external_id,
                                platform_number=order.platform_number, reason=f"Order {_label(order)}: {text}"))
    if isinstance(error, AuthFailed):  # every sync will fail too: show it on the store
        store.last_error, store.last_error_at = text, utcnow()
    db.session.commit()
    log.warning("order %s: status not set on store %s: %s", order.id, store.id, error)


def _reason(error: Exception) -> str:
    message = (getattr(error, "message", None) or str(error)).strip()
    if getattr(error, "retryable", False) and get_current_job() is not None:
        # Its own advice ("tries again by itself") no longer holds after the last try.
        message = f"{message.split('. ')[0].rstrip('.')}; tried {len(RETRY_INTERVALS) + 1} times"
    return message.rstrip(".") + "."


def _advice(store: Store, error: Exception) -> str:
    if isinstance(error, (AuthFailed, SecretUnreadable)):
        return "Edit the store and enter the new password or key, then choose the status here again."
    return f"Set it on {_title(store)} by hand, or choose the status here again to send it again."


def _label(order: Order) -> str:
    number = order.platform_number or order.external_id or str(order.id)
    return number if number.startswith("#") else f"#{number}"
