"""The named RQ queues and how to reach them."""
from __future__ import annotations

from rq import Queue

from webapp.extensions import redis_client

QUEUES = ("sync", "push", "default")  # listened to in this order: imports first, housekeeping last


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_client())
