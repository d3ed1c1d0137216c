"""Role in ``sync/``: the limits kept in Redis — one sync per store at a time, and the
10-minute limit on manual order updates (R-ORD-3, R-ORD-4).

The store lock is a redis-py ``Lock`` (``SET NX PX`` with a random token, released and
extended only by its owner). It expires after ``LOCK_SECONDS`` unless a keeper thread of
the holding process extends it, so a worker killed with SIGKILL holds it at most that
long; a job that finds the lock taken returns at once and the next tick tries again. A run
still RUNNING whose lock is free is dead: ``schedule.resume_dead_runs`` resumes it (R-REL-3).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from webapp.extensions import redis_client

log = logging.getLogger(__name__)

LOCK_SECONDS = 15
"""How long a dead holder blocks its store (R-REL-3: noticed within a minute, with the
dead-run tick); the keeper extends a live one every third of it, so a live run keeps it
through a Redis outage of up to two thirds of it."""
MANUAL_UPDATE_SECONDS = 600  # R-ORD-3/R-ORD-4: once every 10 minutes


class LockLost(RuntimeError):
    """The store lock expired under us (the process stalled longer than LOCK_SECONDS)."""


class StoreLock:
    """A held store lock, kept alive by a daemon thread until ``release``. ``waited``: another
    run held it when it was asked for, and this one waited until that run ended."""

    def __init__(self, lock: Lock, seconds: float, waited: bool = False) -> None:
        self._lock = lock
        self.waited = waited
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._keeper = threading.Thread(target=self._keep, args=(seconds / 3,), daemon=True)
        self._keeper.start()

    def _keep(self, every: float) -> None:
        while not self._stop.wait(every):  # ends with release(), or the process
            try:
                self._lock.reacquire()
            except LockError:
                self._lost.set()
                return
            except RedisError as error:  # Redis restarting: try again at the next beat
                log.warning("store lock %s: not extended (%s); trying again", self._lock.name, error)

    def check(self) -> None:
        """Raise LockLost if another run may have taken the store: commit nothing then."""
        try:
            owned = not self._lost.is_set() and self._lock.owned()
        except RedisError as error:
            raise LockLost(f"Redis could not be reached ({error}) to confirm that this run still holds "
                           "the store's sync lock, so it stopped; the next run goes on from there.") from error
        if not owned:
            raise LockLost("The store's sync lock expired during the run; another run may "
                           "have started. This run stopped; the next tick goes on.")

    def release(self) -> None:
        self._stop.set()
        self._keeper.join(timeout=5)
        try:
            self._lock.release()
        except (LockError, RedisError):
            pass  # expired already (or Redis is away, and it expires by itself)


def lock_key(store_id: int) -> str:
    return f"orderdock:lock:store:{store_id}"


@contextmanager
def store_lock(store_id: int, wait: float = 0, seconds: float = LOCK_SECONDS) -> Iterator[StoreLock | None]:
    """Hold the store's sync lock for the block; yields None when another run holds it.

    ``wait`` seconds are spent waiting for it (0: do not wait).
    """
    lock = redis_client().lock(lock_key(store_id), timeout=seconds, sleep=0.2, thread_local=False)
    # Asked once without waiting, so that the holder knows whether another run went first (a
    # look at the key before asking would miss a run that takes it in between).
    waited = not lock.acquire(blocking=False)
    if waited and not (wait > 0 and lock.acquire(blocking=True, blocking_timeout=wait)):
        log.info("store %s: another sync holds the lock; skipping", store_id)
        yield None
        return
    held = StoreLock(lock, seconds, waited)
    try:
        yield held
    finally:
        held.release()


def store_locked(store_id: int) -> bool:
    """True while some run holds the store's lock (a live job, or a dead one not expired yet)."""
    return bool(redis_client().exists(lock_key(store_id)))


def manual_update_allowed(order_id: int) -> tuple[bool, int]:
    """(True, 0) and start the 10 minutes, or (False, seconds left) while they run (R-ORD-4)."""
    return _once_per(manual_key(order_id), MANUAL_UPDATE_SECONDS)


def manual_key(order_id: int) -> str:
    """The Redis key that holds an order's 10 minutes after a manual update (R-ORD-4)."""
    return f"orderdock:manual:{order_id}"


def _once_per(key: str, seconds: int) -> tuple[bool, int]:
    redis = redis_client()
    if redis.set(key, 1, nx=True, ex=seconds):  # None (not False) while the key lives
        return True, 0
    # The key may expire between SET and TTL (-2) or, in theory, lack an expiry (-1):
    # a refusal always asks to wait at least a second.
    return False, max(1, redis.ttl(key))
