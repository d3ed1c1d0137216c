"""The named RQ queues, one per kind of work, and how to reach them.

A kind of work has a queue of its own so that a worker (or a machine) can be given to it:
an initial import that runs for hours on "initial" never keeps a 5-minute sync, a webhook's
orders or a status push waiting behind it (docs/deploy.md, "How many workers").
"""
from __future__ import annotations

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.extensions import redis_client
from webapp.models import RunKind

QUEUES = ("default", "push", "hooks", "sync", "initial")
"""In the order a worker given several of them takes from them: the periodic ticks (short, and
what keeps everything else on time), status pushes, webhook jobs, syncs and order updates,
and last the initial imports."""
PURPOSE = {
    "default": "periodic ticks: due syncs, dead runs, pruning",
    "push": "statuses sent to the shops",
    "hooks": "webhook deliveries and webhook registration",
    "sync": "5-minute syncs and order updates",
    "initial": "initial imports",
}
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED)


def queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"There is no queue {name!r}; the queues are {', '.join(QUEUES)}.")
    return Queue(name, connection=redis_client())


def queue_of(kind: RunKind) -> str:
    """The queue a store's run of this kind waits on: its own for an initial import."""
    return "initial" if kind == RunKind.INITIAL else "sync"


def parse_queues(text: str | None) -> list[str]:
    """Queue names from "a,b" (or "a:b", as in a systemd instance name), in QUEUES' order; all
    of them for an empty text. A name that is not a queue is refused, saying which are."""
    names = [name.strip() for name in (text or "").replace(":", ",").split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise ValueError(f"Unknown queue {', '.join(map(repr, unknown))}: the queues are {', '.join(QUEUES)}.")
    return [name for name in QUEUES if name in names] if names else list(QUEUES)


def job_state(job_id: str) -> str | None:
    """"waiting", "running", or None when the fixed job id is free again (a finished job under
    it is deleted, so the id can be enqueued anew)."""
    try:
        job = Job.fetch(job_id, connection=redis_client())
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    if status in WAITING:
        return "waiting"
    if status == JobStatus.STARTED:
        return "running"
    job.delete()
    return None
