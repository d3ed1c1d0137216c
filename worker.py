"""Background processes: `python worker.py work [--queues default,push,hooks,sync]` runs an RQ
worker on those queues (all of them when left out, in the order of ``QUEUES``), `python
worker.py schedule` runs RQ's cron scheduler. Both build the app so jobs run inside its
context (database, Redis). Any number of workers may run, on any number of machines sharing
one Redis and one database (docs/deploy.md); one scheduler ticks at a time: a second one
started elsewhere waits as a standby and takes over when the first stops beating.

Both ride out a Redis outage (R-REL-2): RQ gives up when Redis goes away in the middle of a
job (and again when it records its own death), so each is started again once Redis answers,
waiting with a growing pause and saying so once per outage, not once per attempt.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable

from redis import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from redis.lock import Lock
from rq.cron import CronScheduler, StopRequested

from webapp import create_app, logs
from webapp.extensions import redis_client
from webapp.sync import health, schedule
from webapp.sync.queues import QUEUES, parse_queues

log = logging.getLogger("worker")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 10.0  # seconds between looks for Redis, doubling
LEADER_KEY = "orderdock:scheduler:leader"
LEADER_SECONDS = 60  # a killed scheduler's standby takes over after at most this long
STANDBY_LOOK = 5.0  # seconds between a standby scheduler's looks at the leader's lock


class StopFlag:
    """Set once the process is asked to stop: never wait for Redis then.

    Set from signal handlers, so it takes no lock. A process gets several SIGTERMs at once when
    its launcher is killed outright (PR_SET_PDEATHSIG fires once per launcher thread as each
    exits), and a handler run again inside ``threading.Event.set`` waits forever for the lock
    the first one holds (seen: a scheduler left behind)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


STOPPING = StopFlag()


class SteadyWorker(Worker):
    """An RQ worker that remembers whether it was asked to stop (SIGTERM, Ctrl-C)."""

    def __init__(self, *args, **kwargs):
        # Beat every WORKER_BEAT seconds, idle (RQ waits worker_ttl - 15 s for a job between
        # beats) or busy (the work horse's monitor), so that /healthz sees a killed one soon.
        # Named after the machine and the process, so the operations page tells them apart (the
        # suffix: a worker started again in the same process after a Redis outage is a new one).
        kwargs.setdefault("name", f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(2)}")
        super().__init__(*args, worker_ttl=health.WORKER_BEAT + 15, job_monitoring_interval=health.WORKER_BEAT,
                         **kwargs)

    def handle_warm_shutdown_request(self):
        STOPPING.set()
        if not redis_answers(self.connection):
            # RQ's warm shutdown needs Redis (its own loop retries it forever): with Redis gone,
            # e.g. the launcher and its Redis killed outright, a stop request means now.
            log.warning("worker: asked to stop while Redis is away; stopping now")
            raise SystemExit(0)
        super().handle_warm_shutdown_request()


class SteadyCronScheduler(CronScheduler):
    """RQ's cron scheduler that remembers a stop request: on its way out it records its death in
    Redis, and when that Redis died with the launcher (killed outright) the failure must end the
    process, not start a wait for Redis that no second signal would interrupt."""

    def __init__(self, *args, leader: Lock, **kwargs):
        super().__init__(*args, **kwargs)
        self.leader = leader

    def _request_stop(self, signum, frame):
        if STOPPING.is_set():
            return  # the same stop again (one SIGTERM per thread of a dying launcher): under way
        STOPPING.set()
        super()._request_stop(signum, frame)

    def heartbeat(self) -> None:
        """After every loop (at most ``schedule.DEAD_RUN_TICK`` s apart): keep the leader's lock too.
        Lost (this process stalled past LEADER_SECONDS and a standby took over): stop ticking."""
        try:
            self.leader.reacquire()
        except LockError:
            log.warning("scheduler: another scheduler took over while this one stalled; standing by")
            raise StopRequested() from None
        super().heartbeat()


def work(queues: list[str] | None = None, burst: bool = False) -> None:
    """An RQ worker on ``queues`` (all of them by default), until asked to stop."""
    queues = queues or list(QUEUES)
    app = create_app()
    with app.app_context():
        def run_once() -> bool:
            worker = SteadyWorker(queues, connection=redis_client())
            # RQ's scheduler puts retried jobs (a status push the shop did not answer) back on
            # their queue when their wait is over; without it they would wait forever.
            worker.work(burst=burst, with_scheduler=True)
            return burst or STOPPING.is_set()

        keep_going("worker", run_once, redis_client())


def run_scheduler() -> None:
    app = create_app()
    with app.app_context():
        def run_once() -> bool:
            leader = lead(redis_client())
            scheduler = SteadyCronScheduler(connection=redis_client(), logging_level=logging.INFO, leader=leader)
            schedule.register(scheduler)
            try:
                scheduler.start()  # returns when asked to stop, or when it lost the lead
            finally:
                _let_go(leader)
            return STOPPING.is_set()

        keep_going("scheduler", run_once, redis_client())


def lead(redis: Redis) -> Lock:
    """The scheduler's lead, once no other scheduler holds it (a standby waits here, saying so
    once). SIGTERM and Ctrl-C stop a standby at once: it holds nothing."""
    leader = redis.lock(LEADER_KEY, timeout=LEADER_SECONDS, sleep=STANDBY_LOOK, thread_local=False)
    if not leader.acquire(blocking=False):
        log.info("scheduler: another scheduler is ticking; this one stands by and takes over if it stops")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        leader.acquire(blocking=True)
        log.info("scheduler: the other scheduler stopped; this one ticks now")
    return leader


def _let_go(leader: Lock) -> None:
    try:
        leader.release()
    except (LockError, *REDIS_DOWN):
        pass  # lost already, or Redis is away: it expires by itself


def keep_going(name: str, run_once: Callable[[], bool], redis: Redis) -> None:
    """``run_once()`` until it says it is done (True), again after every Redis outage.

    RQ also returns without a stop request after an error it only logged; that is started
    again too, after a pause, so that a loop of failures cannot spin."""
    while True:
        try:
            if run_once():
                return
            log.warning("%s: RQ stopped without being asked to; starting it again", name)
        except REDIS_DOWN as error:
            if STOPPING.is_set():  # asked to stop, and Redis went with it (the launcher killed)
                log.warning("%s: Redis went away while stopping (%s); stopped", name, error)
                return
            log.warning("%s: Redis went away (%s); waiting for it to come back", name, error)
        wait_for_redis(name, redis)


def redis_answers(redis: Redis) -> bool:
    """One quick PING on a connection of its own (the worker's may be stuck in a retry)."""
    pool = redis.connection_pool
    probe = Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **{
        **pool.connection_kwargs, "socket_connect_timeout": 1, "socket_timeout": 1}))
    try:
        return bool(probe.ping())
    except REDIS_DOWN:
        return False
    finally:
        probe.close()


def wait_for_redis(name: str, redis: Redis) -> None:
    """Until Redis answers a PING, pausing FIRST_PAUSE doubling up to LONGEST_PAUSE. SIGTERM and
    Ctrl-C stop the process meanwhile (RQ's handlers, which expect its loop, are put aside)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pause, waited = FIRST_PAUSE, 0.0
    while True:
        time.sleep(pause)
        waited += pause
        try:
            redis.ping()
        except REDIS_DOWN:
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        log.info("%s: Redis answers again (after %.1f s); going on", name, waited)
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["work", "schedule"])
    parser.add_argument("--queues", default="", help="work: the queues to take jobs from, comma-separated "
                        "(default: all of them): " + ", ".join(QUEUES))
    parser.add_argument("--burst", action="store_true", help="work: stop when the queues are empty")
    args = parser.parse_args()
    try:
        queues = parse_queues(args.queues)
    except ValueError as error:
        parser.error(str(error))
    logs.configure()
    if args.role == "work":
        work(queues, args.burst)
    else:
        run_scheduler()


if __name__ == "__main__":
    main()
