"""Background processes: `python worker.py work` runs an RQ worker, `python worker.py schedule`
runs RQ's cron scheduler. Both build the app so jobs run inside its context (database, Redis).

Both ride out a Redis outage (R-REL-2): RQ gives up when Redis goes away in the middle of a
job (and again when it records its own death), so each is started again once Redis answers,
waiting with a growing pause and saying so once per outage, not once per attempt.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable

from redis import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.cron import CronScheduler

from webapp import create_app
from webapp.extensions import redis_client
from webapp.sync import schedule
from webapp.sync.queues import QUEUES

log = logging.getLogger("worker")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 10.0  # seconds between looks for Redis, doubling


STOPPING = threading.Event()  # set once the process is asked to stop: never wait for Redis then


class SteadyWorker(Worker):
    """An RQ worker that remembers whether it was asked to stop (SIGTERM, Ctrl-C)."""

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

    def _request_stop(self, signum, frame):
        STOPPING.set()
        super()._request_stop(signum, frame)


def work(burst: bool = False) -> None:
    app = create_app()
    with app.app_context():
        def run_once() -> bool:
            worker = SteadyWorker(list(QUEUES), connection=redis_client())
            # RQ's scheduler puts retried jobs (a status push the shop did not answer) back on
            # their queue when their wait is over; without it they would wait forever.
            worker.work(burst=burst, with_scheduler=True)
            return burst or STOPPING.is_set()

        keep_going("worker", run_once, redis_client())


def run_scheduler() -> None:
    app = create_app()
    with app.app_context():
        def run_once() -> bool:
            scheduler = SteadyCronScheduler(connection=redis_client(), logging_level=logging.INFO)
            schedule.register(scheduler)
            scheduler.start()  # returns when asked to stop
            return True

        keep_going("scheduler", run_once, redis_client())


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
    parser.add_argument("--burst", action="store_true", help="work: stop when the queues are empty")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.role == "work":
        work(args.burst)
    else:
        run_scheduler()


if __name__ == "__main__":
    main()
