"""Role in ``sync/``: how far a store's import or sync has got, for the self-polling progress
panel (R-CON-6): the latest run, the share done when the platform said how many orders to
expect, an estimate of the time left, and whether a worker is there to run a queued job."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.sync import health
from webapp.sync.queues import queue_of

ACTIVE = (RunState.QUEUED, RunState.RUNNING)
WORKER_GRACE = timedelta(seconds=20)
"""A run queued longer than this with no live worker on its queue: say the worker seems to be down."""


@dataclass(frozen=True)
class Panel:
    run: SyncRun | None
    active: bool
    percent: int | None  # None: the platform does not say how many orders there are
    seconds_left: int | None
    worker_missing: str | None  # the queue no live worker takes jobs from, while the run waits on it

    @property
    def imported(self) -> int:
        run = self.run
        return (run.created + run.updated + run.unchanged) if run else 0


def panel(store: Store) -> Panel:
    run = db.session.scalar(select(SyncRun).where(SyncRun.store_id == store.id)
                            .order_by(SyncRun.id.desc()).limit(1))
    if run is None:
        return Panel(None, False, None, None, None)
    active = run.state in ACTIVE
    return Panel(run, active, percent_done(run), seconds_left(run) if active else None,
                 _worker_missing(run) if run.state == RunState.QUEUED else None)


def percent_done(run: SyncRun) -> int | None:
    if run.state == RunState.SUCCEEDED:
        return 100
    if not run.expected:
        return None
    # Orders keep arriving during an import: never claim 100 % before the run says so.
    return min(99, int(100 * (run.fetched or 0) / run.expected))


def seconds_left(run: SyncRun) -> int | None:
    """Time left at the pace so far; None until a page is done or without a total."""
    if not run.expected or not run.fetched or run.started_at is None:
        return None
    elapsed = (utcnow() - run.started_at).total_seconds()
    remaining = max(0, run.expected - run.fetched)
    return int(elapsed * remaining / run.fetched) if elapsed > 0 else None


def _worker_missing(run: SyncRun) -> str | None:
    """The run's queue, when it has waited WORKER_GRACE and no live worker takes from that queue."""
    name = queue_of(run.kind)
    waited = utcnow() - run.created_at
    return name if waited > WORKER_GRACE and not health.listened(name) else None
