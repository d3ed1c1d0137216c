"""The periodic tick, run by RQ's own cron scheduler (`python worker.py schedule`).

Every periodic job is listed in ``register``. Today: the heartbeat that lets the operator see
that the worker and the scheduler are alive (`/healthz`). The import engine adds the 5-minute
store sync here.
"""
from __future__ import annotations

import time

from rq.cron import CronScheduler

from webapp.extensions import redis_client

HEARTBEAT_KEY = "orderdock:heartbeat"
HEARTBEAT_EVERY = 60  # seconds


def heartbeat() -> float:
    """Record when a worker last ran a scheduled job; read by the health check."""
    now = time.time()
    redis_client().set(HEARTBEAT_KEY, now, ex=HEARTBEAT_EVERY * 5)
    return now


def register(scheduler: CronScheduler) -> None:
    scheduler.register(heartbeat, queue_name="default", interval=HEARTBEAT_EVERY)
