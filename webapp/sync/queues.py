"""The named RQ queues and how to reach them."""
from __future__ import annotations

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.extensions import redis_client

QUEUES = ("sync", "push", "default")  # listened to in this order: imports first, housekeeping last
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED)


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_client())


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
