"""The operations page's figures (issue 15, Settings > Operations): for each store, its last
successful contact with the shop, its lag (the newest order the shop has shown a sync against
the newest imported), its throughput (orders created and updated by the runs finished in the
last hour and 24 hours), the run in progress and its failing orders; beside them the background
side's health, ``sync.health.report()``.

Read-only, and a handful of grouped statements whatever the number of stores: the page asks
again every 10 seconds while an administrator keeps it open.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from webapp.extensions import db
from webapp.models import FailedOrder, Order, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.platforms import PLATFORMS
from webapp.sync import health
from webapp.sync.progress import ACTIVE, percent_done
from webapp.sync.queues import PURPOSE

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class StoreFigures:
    store: Store
    last_contact: datetime | None  # finished_at of the newest successful run
    shop_newest: datetime | None   # the newest order the shop has shown a sync (None: not yet)
    imported_newest: datetime | None
    last_hour: int
    last_day: int
    current: SyncRun | None        # the run queued or running now
    failing: int
    now: datetime

    @property
    def platform(self) -> str:
        adapter = PLATFORMS.get(self.store.platform)
        return adapter.title if adapter else self.store.platform

    @property
    def contact_age(self) -> float | None:
        return (self.now - self.last_contact).total_seconds() if self.last_contact else None

    @property
    def lag(self) -> float | None:
        """Seconds the newest imported order is behind the newest on the shop; 0: up to date;
        None: not known (no sync has shown an order yet, or none is imported)."""
        if self.shop_newest is None or self.imported_newest is None:
            return None
        return max(0.0, (self.shop_newest - self.imported_newest).total_seconds())

    @property
    def percent(self) -> int | None:
        return percent_done(self.current) if self.current else None


def overview() -> dict:
    """What the page shows: ``stores`` (StoreFigures, by name), ``health`` (the report),
    ``purpose`` (what each queue is for) and ``checked_at``."""
    now = utcnow()
    return {"stores": store_figures(now), "health": health.report(), "purpose": PURPOSE, "checked_at": now}


def store_figures(now: datetime) -> list[StoreFigures]:
    """Every store not deleted, by name; switched-off ones too (the page marks them)."""
    stores = db.session.scalars(select(Store).where(Store.deleted_at.is_(None)).order_by(Store.name, Store.id)).all()
    ids = [store.id for store in stores]
    if not ids:
        return []
    contact, newest, failing = _last_contacts(ids), _newest_imported(ids), _failing(ids)
    throughput, current = _throughput(ids, now), _current_runs(ids)
    return [StoreFigures(store, contact.get(store.id), store.shop_newest_order_at, newest.get(store.id),
                         *throughput.get(store.id, (0, 0)), current.get(store.id), failing.get(store.id, 0), now)
            for store in stores]


def _last_contacts(ids: list[int]) -> dict[int, datetime]:
    return dict(db.session.execute(
        select(SyncRun.store_id, func.max(SyncRun.finished_at))
        .where(SyncRun.store_id.in_(ids), SyncRun.state == RunState.SUCCEEDED).group_by(SyncRun.store_id)).all())


def _newest_imported(ids: list[int]) -> dict[int, datetime]:
    """An imported order's ``created_at`` is the shop's time (``platform_created_at`` too): a
    correlated MAX per store is one look into the index (store_id, created_at), not a scan."""
    newest = (select(func.max(Order.created_at)).where(Order.store_id == Store.id)
              .correlate(Store).scalar_subquery())
    return {store_id: at for store_id, at in db.session.execute(select(Store.id, newest).where(Store.id.in_(ids)))
            if at is not None}


def _throughput(ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Orders created + updated by the runs finished in the last hour and the last 24 hours. A
    failed run counts too: each of its pages was committed with its counts."""
    done = SyncRun.created + SyncRun.updated
    rows = db.session.execute(
        select(SyncRun.store_id, func.sum(case((SyncRun.finished_at >= now - HOUR, done), else_=0)), func.sum(done))
        .where(SyncRun.store_id.in_(ids), SyncRun.finished_at >= now - DAY).group_by(SyncRun.store_id)).all()
    return {store_id: (int(hour or 0), int(day or 0)) for store_id, hour, day in rows}


def _current_runs(ids: list[int]) -> dict[int, SyncRun]:
    runs = db.session.scalars(select(SyncRun).where(SyncRun.store_id.in_(ids), SyncRun.state.in_(ACTIVE))
                              .order_by(SyncRun.id)).all()
    return {run.store_id: run for run in runs}  # the newest wins


def _failing(ids: list[int]) -> dict[int, int]:
    return dict(db.session.execute(
        select(FailedOrder.store_id, func.count(FailedOrder.id))
        .where(FailedOrder.store_id.in_(ids)).group_by(FailedOrder.store_id)).all())


def duration(seconds: float | None) -> str:
    """A span as an operator reads it at a glance: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
