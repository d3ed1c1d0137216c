"""Background processes: `python worker.py work` runs an RQ worker, `python worker.py schedule`
runs RQ's cron scheduler. Both build the app so jobs run inside its context (database, Redis)."""
from __future__ import annotations

import argparse
import logging

from rq import Worker
from rq.cron import CronScheduler

from webapp import create_app
from webapp.extensions import redis_client
from webapp.sync import schedule
from webapp.sync.queues import QUEUES


def work(burst: bool = False) -> None:
    app = create_app()
    with app.app_context():
        connection = redis_client()
        worker = Worker(list(QUEUES), connection=connection)
        # RQ's scheduler puts retried jobs (a status push the shop did not answer) back on
        # their queue when their wait is over; without it they would wait forever.
        worker.work(burst=burst, with_scheduler=True)


def run_scheduler() -> None:
    app = create_app()
    with app.app_context():
        scheduler = CronScheduler(connection=redis_client(), logging_level=logging.INFO)
        schedule.register(scheduler)
        scheduler.start()


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
