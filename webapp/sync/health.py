"""Role in ``sync/``: how the background side is doing, for ``/healthz`` and the operations page.

Everything here is read from what RQ itself keeps in Redis, so it holds across machines: each
worker's registration and heartbeat (a worker beats every ``WORKER_BEAT`` seconds, idle or
busy, see worker.py), the cron scheduler's heartbeat after each of its loops (at most
``schedule.DEAD_RUN_TICK`` seconds apart), and each queue's jobs. A worker killed outright
stays registered until its key expires; it counts as gone once it has been silent for
``SILENT`` seconds, so a stopped worker and a stalled scheduler both show within a minute.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from rq import Queue, Worker
from rq import cron_scheduler_registry
from rq.job import Job
from sqlalchemy import text

from webapp.extensions import db, redis_client
from webapp.sync.queues import PURPOSE, QUEUES

WORKER_BEAT = 10  # seconds between a worker's heartbeats (worker.py sets RQ's timings from it)
SILENT = 45  # seconds of silence after which a worker or the scheduler counts as gone
LATE = {"default": 120, "push": 300, "hooks": 300, "sync": 900, "initial": None}
"""Seconds the oldest job may wait in a queue before it is a problem; None: imports wait their
turn by design (one store's import after another's)."""


@dataclass(frozen=True)
class QueueState:
    name: str
    queued: int
    oldest_queued_seconds: float | None
    workers: int
    failed: int

    @property
    def state(self) -> str:
        if not self.workers:
            return "no worker"
        late = LATE[self.name]
        return "late" if late is not None and (self.oldest_queued_seconds or 0) > late else "ok"


def report() -> dict:
    """The whole picture: ``status`` "ok" or "failing", each check, and ``problems``, sentences
    an operator can act on (empty when all is well)."""
    checks = {"database": _probe(lambda: db.session.execute(text("SELECT 1"))),
              "redis": _probe(lambda: redis_client().ping())}
    problems = [f"The {name} does not answer ({state.removeprefix('failing: ')})."
                for name, state in checks.items() if state != "ok"]
    result = {**checks, "scheduler": None, "queues": {}, "workers": []}
    if checks["redis"] == "ok":
        now = time.time()
        workers = _workers(now)
        queues = [_queue_state(name, workers, now) for name in QUEUES]
        result["scheduler"] = _scheduler(now)
        result["workers"] = workers
        result["queues"] = {q.name: {"queued": q.queued, "oldest_queued_seconds": q.oldest_queued_seconds,
                                     "workers": q.workers, "failed": q.failed, "state": q.state} for q in queues}
        problems += _scheduler_problems(result["scheduler"]) + _queue_problems(queues)
    return {"status": "failing" if problems else "ok", **result, "problems": problems}


def listened(name: str) -> bool:
    """Whether a live worker takes jobs from the queue ``name``."""
    return any(name in worker["queues"] for worker in _workers(time.time()))


def _probe(check) -> str:
    try:
        check()
    except Exception as error:  # reported, not raised: the report exists to say what is down
        return f"failing: {type(error).__name__}"
    return "ok"


def _workers(now: float) -> list[dict]:
    """The workers that beat within SILENT seconds, with what they listen to and do."""
    alive = []
    for worker in Worker.all(connection=redis_client()):
        beat = worker.last_heartbeat
        age = now - beat.timestamp() if beat else None
        if age is None or age > SILENT:
            continue
        job = worker.get_current_job_id()
        alive.append({"name": worker.name, "queues": worker.queue_names(), "state": "busy" if job else "idle",
                      "job": job, "heartbeat_seconds_ago": round(age, 1)})
    return alive


def _queue_state(name: str, workers: list[dict], now: float) -> QueueState:
    queue = Queue(name, connection=redis_client())
    first = queue.get_job_ids(0, 1)
    oldest = None
    if first:
        job = Job.fetch(first[0], connection=queue.connection)
        oldest = round(now - job.enqueued_at.timestamp(), 1) if job.enqueued_at else None
    return QueueState(name, queue.count, oldest, sum(name in w["queues"] for w in workers),
                      queue.failed_job_registry.count)


def _scheduler(now: float) -> dict:
    """From RQ's registry of cron schedulers: each one's last heartbeat, beaten after every loop.
    The newest counts (a standby scheduler waits without beating, see worker.py)."""
    beats = redis_client().zrange(cron_scheduler_registry.get_registry_key(), 0, -1, withscores=True)
    newest = max((score for _name, score in beats), default=None)
    if newest is None:
        return {"state": "not running", "last_tick_seconds_ago": None}
    age = round(now - newest, 1)
    return {"state": "stalled" if age > SILENT else "ok", "last_tick_seconds_ago": age}


def _scheduler_problems(scheduler: dict) -> list[str]:
    if scheduler["state"] == "not running":
        return ["The scheduler is not running, so no sync starts by itself: start `python worker.py schedule` "
                "(orderdock-scheduler.service)."]
    if scheduler["state"] == "stalled":
        return [f"The scheduler's last tick was {scheduler['last_tick_seconds_ago']:.0f} s ago (it ticks at least "
                "every 20 s): it is stuck or was killed; restart orderdock-scheduler.service."]
    return []


def _queue_problems(queues: list[QueueState]) -> list[str]:
    problems = []
    for q in queues:
        if q.state == "no worker":
            problems.append(f"No worker listens to the queue {q.name!r} ({PURPOSE[q.name]}): start one with "
                            f"`python worker.py work --queues {q.name}` (or a worker unit that includes it).")
        elif q.state == "late":
            problems.append(f"The oldest job in the queue {q.name!r} ({PURPOSE[q.name]}) has waited "
                            f"{q.oldest_queued_seconds:.0f} s: its workers cannot keep up; add one.")
    return problems
