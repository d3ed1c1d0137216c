"""Role in ``sync/``: the RQ entry points of the "sync" and "push" queues. They take ids,
never objects, read the platform through the run's one adapter (``Context.platform``) and
write through the importer; the frame (lock, run state, failures) is ``runner.run_store_job``.

* ``initial_import`` — R-IMP-2: the orders of the last two months, minus the platform's
  excluded statuses. Resumable: each page is committed together with the adapter's
  checkpoint on the store, and a restarted job goes on from there.
* ``sync_store`` — R-IMP-1/3/4: what changed since the last complete run.
* ``sync_orders`` — R-ORD-3/4: the given platform orders re-read now.
* ``push_status`` — R-STA-1/3: an order's status sent to its platform (on the "push"
  queue; the rules and the bookkeeping are ``status_push``).
* ``webhook_orders`` — R-HOOK-1: the orders webhook deliveries named, re-read now;
  ``register_webhooks`` / ``unregister_webhooks`` — R-HOOK-4 (the rules are ``webhooks``).

A job runs inside the app context ``worker.py`` provides (it makes one when started by a
plain ``rq worker``) and removes the database session when it ends. The worker's main
process never opens the database, so a forked work horse starts with an empty pool.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, func, select, update

from webapp import logs
from webapp.extensions import db
from webapp.models import (
    FailedOrder, ImportState, LogLevel, Order, RunKind, RunState, Status, StatusGroup, Store, SyncLogEntry, SyncRun,
)
from webapp.models.types import utcnow
from webapp.platforms.base import PlatformError, RemoteOrder
from webapp.sync import status_push, webhooks
from webapp.sync.importer import import_orders
from webapp.sync.platform import rules_for
from webapp.sync.prefetch import prefetched
from webapp.sync.runner import BUSY_WAIT, Context, Progress, in_app_context, run_store_job

log = logging.getLogger(__name__)

INITIAL_WINDOW = timedelta(days=61)
"""R-IMP-2 "the last two months", counted back from the import's start: 61 days cover any
two calendar months (July + August), so no order of the second month is left out."""
OVERLAP = timedelta(minutes=10)
"""A sync reads from the last complete run's start minus this: clocks differ between us and
the shop, and an order saved while the last run was reading may carry an earlier time.
Orders read twice are one order (the unique key store + external id, R-IMP-7)."""
BATCH = 100  # failed orders retried by id per commit
REREAD_REQUESTS = 10
"""Where the shop cannot list changed orders (Cartum), the most requests one sync spends on
re-reading open orders by id (``_due_for_reread``): 10 x 500 = 5,000 orders. The README's
"What a sync asks the shop" states the bound; keep it in step."""
MANUAL_LOCK_WAIT = 60.0  # seconds an order update waits for a running sync of its store
HOOK_LOCK_WAIT = 10.0
"""Seconds a webhook job waits for its store's lock (a sync of a few seconds); a longer holder
(an import) makes it run again later (``webhooks.again_later``) rather than hold a worker."""


@in_app_context
def initial_import(store_id: int, run_id: int | None = None, *, progress: Progress | None = None) -> int | None:
    """R-IMP-2 for the store; the run's id, or None when it did not run (busy, inactive)."""
    return run_store_job(store_id, run_id, RunKind.INITIAL, _initial, wait=BUSY_WAIT, progress=progress)


@in_app_context
def sync_store(store_id: int, run_id: int | None = None, *, progress: Progress | None = None) -> int | None:
    """R-IMP-1/3/4: new and changed orders since the last complete run."""
    return run_store_job(store_id, run_id, RunKind.SCHEDULED, _sync, wait=BUSY_WAIT, progress=progress)


@in_app_context
def sync_orders(store_id: int, external_ids: Sequence[str], run_id: int | None = None) -> int | None:
    """R-ORD-3/4: these platform orders re-read and imported now."""
    ids = list(dict.fromkeys(str(i) for i in external_ids))
    return run_store_job(store_id, run_id, RunKind.MANUAL, functools.partial(_update, ids=ids),
                         wait=MANUAL_LOCK_WAIT)


@in_app_context
def push_status(order_id: int) -> str:
    """R-STA-1/3: the order's current status sent to its platform, when still needed."""
    with logs.bound(order=order_id):
        return status_push.push(order_id)


@in_app_context
def webhook_orders(store_id: int) -> int | None:
    """R-HOOK-1: the orders webhook deliveries named, re-read from the shop and imported (the
    content always comes from the shop: an out-of-order delivery cannot move an order back).
    A store busy with a long import runs this again later; its ids stay pending meanwhile."""
    if not webhooks.has_pending(store_id):
        return None  # another job took them
    run_id = run_store_job(store_id, None, RunKind.WEBHOOK, _webhook_orders, wait=HOOK_LOCK_WAIT)
    if run_id is None:
        store = db.session.get(Store, store_id)
        if store is None or store.deleted_at is not None or not store.enabled:
            webhooks.drop(store_id)
        else:
            webhooks.again_later(store_id)
    return run_id


@in_app_context
def register_webhooks(store_id: int) -> str:
    """R-HOOK-4: the store's webhook subscriptions made right on its shop."""
    with logs.bound(store=store_id):
        return webhooks.register(store_id)


@in_app_context
def unregister_webhooks(snapshot: str) -> int:
    """R-HOOK-4: a deleted store's subscriptions removed from its shop."""
    return webhooks.unregister(snapshot)


def _webhook_orders(ctx: Context) -> None:
    batch = webhooks.take(ctx.store_id)
    try:
        ctx.run.expected = len(batch.ids)
        _reread(ctx, batch.ids, window_start(ctx.store))
        run = ctx.run
        line = webhooks.summary(batch, run.created, run.updated, run.unchanged, run.skipped, run.failed)
        ctx.write(functools.partial(_webhook_done, ctx, batch, line))
    except BaseException:
        webhooks.give_back(ctx.store_id, batch)
        raise
    webhooks.done(ctx.store_id)


def _webhook_done(ctx: Context, batch: webhooks.Batch, line: str) -> None:
    webhooks.note_received(ctx.store, batch)
    db.session.add(SyncLogEntry(store_id=ctx.store_id, run_id=ctx.run.id, level=LogLevel.WEBHOOK, reason=line))


def _update(ctx: Context, ids: list[str]) -> None:
    ctx.run.expected = len(ids)
    _reread(ctx, ids, window_start(ctx.store))


def _initial(ctx: Context) -> None:
    store, run = ctx.store, ctx.run
    began = _import_began(store.id, run)
    resumed = began < run.started_at or (store.import_state == ImportState.RUNNING and bool(store.checkpoint))
    if store.import_state != ImportState.RUNNING or not store.checkpoint:
        store.import_state, store.checkpoint = ImportState.RUNNING, None
    platform = ctx.platform
    if run.expected is None:
        run.expected = _count(platform, began - INITIAL_WINDOW)
    db.session.commit()
    pages = platform.iter_orders(created_since=began - INITIAL_WINDOW, resume_from=store.checkpoint)
    _write_pages(ctx, pages, lambda page: _initial_page(ctx, page, began))
    store.import_state, store.checkpoint, store.synced_until = ImportState.DONE, None, began
    if resumed:
        # R-REL-2: the import was interrupted (a fault, a killed worker) and goes on from its
        # checkpoint; what the shop changed on pages read before that comes in now.
        _changes(ctx)


def _write_pages(ctx: Context, pages: Iterable, write: Callable[[object], None]) -> None:
    """Each page written and committed (``ctx.write``) while the next one is fetched."""
    started = time.perf_counter()
    with prefetched(pages) as ahead:
        for page in ahead:
            ctx.write(functools.partial(write, page))
    log.info("read its pages in %.2f s, %.2f s of it waiting for the shop",  # store and run: logs.bound
             time.perf_counter() - started, ahead.waited)


def _initial_page(ctx: Context, page, began: datetime) -> None:
    """One page of the initial import, with its checkpoint; ``ctx.write`` may run it again."""
    store = ctx.store
    import_orders(store, ctx.run, page.orders, initial=True)
    store.checkpoint = page.checkpoint  # in the page's commit: a restart resumes after it
    if page.checkpoint is None:  # the last page: a restart now must not start over
        store.import_state, store.synced_until = ImportState.DONE, began


def _count(platform, since: datetime) -> int | None:
    """The import's expected size for its progress bar; an estimate is no reason to fail."""
    try:
        return platform.count_orders(since)
    except PlatformError as error:
        log.info("%r: no order count (%s); progress is shown without a total", platform, error)
        return None


def _import_began(store_id: int, run: SyncRun) -> datetime:
    """When this initial import started: the first initial run since the last one that
    succeeded. A resumed import's later runs must not move ``synced_until`` past changes
    made to the pages its earlier runs read."""
    last_done = select(func.coalesce(func.max(SyncRun.id), 0)).where(
        SyncRun.store_id == store_id, SyncRun.kind == RunKind.INITIAL, SyncRun.state == RunState.SUCCEEDED)
    first = db.session.scalar(select(func.min(SyncRun.started_at)).where(
        SyncRun.store_id == store_id, SyncRun.kind == RunKind.INITIAL, SyncRun.id > last_done.scalar_subquery()))
    return min(filter(None, (first, run.started_at)))


def _sync(ctx: Context) -> None:
    store = ctx.store
    if store.import_state != ImportState.DONE or store.synced_until is None:
        _initial(ctx)  # nothing to sync from yet: the import comes first
        return
    _changes(ctx)


def _changes(ctx: Context) -> None:
    """R-IMP-1/3/4: what changed since ``synced_until``, and the orders that failed before.

    R-IMP-2's window holds here too: an order placed before it and not imported stays out when
    it changes on the shop (``window_start``)."""
    store, run = ctx.store, ctx.run
    since, window = store.synced_until - OVERLAP, window_start(store)
    if rules_for(store).tracks_updates:
        pages = ctx.platform.iter_orders(updated_since=since)
    else:
        # Cartum cannot list changed orders: its open ones are re-read by id, in rotation, and
        # its "changed since" reads the orders created since (the platform's docstring).
        _reread(ctx, _due_for_reread(ctx), window)
        pages = ctx.platform.iter_orders(updated_since=since)
    _write_pages(ctx, pages, lambda page: import_orders(store, run, page.orders, window_start=window))
    _retry_failed(ctx, window)  # R-REL-5: after the pages, which may have brought some of them already
    store.synced_until = run.started_at


def window_start(store: Store) -> datetime:
    """Where R-IMP-2's two months began for this store: its first initial run's start less
    ``INITIAL_WINDOW`` (the store's creation when no run started yet). A resumed import keeps
    that start (``_import_began``); one run again later reads a later window, inside what the
    first one covered. Syncs keep it, so an old order changed today stays out."""
    first = db.session.scalar(select(func.min(SyncRun.started_at)).where(
        SyncRun.store_id == store.id, SyncRun.kind == RunKind.INITIAL))
    return (first or store.created_at) - INITIAL_WINDOW


def _open_order_ids(store_id: int) -> Select:
    """Cartum cannot list changed orders, so its still-open ones are re-read by id (R-IMP-4):
    not written off (later changes are not applied anyway) and not in a closed status."""
    return (select(Order.external_id).join(Status, Order.status_id == Status.id)
            .where(Order.store_id == store_id, Order.written_off_at.is_(None),
                   Status.group.not_in([group for group in StatusGroup if group.is_closed])))


def _due_for_reread(ctx: Context) -> list[str]:
    """The open orders this sync re-reads: a rotation, the longest not re-read first (never
    re-read, NULL, before all), at most REREAD_REQUESTS requests whatever the shop's size.

    A sync takes the share of the open orders that the time since the last sync is of
    CARTUM_REREAD_MINUTES (a sixth every 5 minutes, for 30), in whole requests of the adapter's
    ``fetch_batch`` (so up to 500 open orders are all re-read at every sync). Each open order
    is then re-read within those minutes while they number at most REREAD_REQUESTS x
    ``fetch_batch`` x (minutes / 5); beyond that the bound wins and a round takes longer.
    Where a sync stopped, the next goes on: ``Order.reread_at`` is committed with each batch."""
    store, batch = ctx.store, ctx.platform.fetch_batch
    open_orders = _open_order_ids(store.id)
    count = db.session.scalar(select(func.count()).select_from(open_orders.subquery()))
    period = timedelta(minutes=current_app.config["CARTUM_REREAD_MINUTES"])
    share = math.ceil(count * min(1.0, max(0.0, (ctx.run.started_at - store.synced_until) / period)))
    requests = min(REREAD_REQUESTS, max(1, math.ceil(share / batch)))
    oldest_first = open_orders.order_by(Order.reread_at.asc().nulls_first(), Order.id)
    return list(db.session.scalars(oldest_first.limit(requests * batch)))


def _reread(ctx: Context, external_ids: Sequence[str], window: datetime) -> None:
    """These orders re-read by id and imported, a request and a commit per ``fetch_batch``;
    each is marked re-read (``Order.reread_at``) in its batch's commit, found on the shop or
    not: the rotation (``_due_for_reread``) counts the update button's re-reads (R-ORD-3/4) too."""
    for batch in _batches(external_ids, ctx.platform.fetch_batch):
        orders, read_at = ctx.platform.fetch_orders(batch), utcnow()
        ctx.write(functools.partial(_reread_page, ctx, orders, batch, read_at, window))


def _reread_page(ctx: Context, orders: Sequence[RemoteOrder], asked: Sequence[str], read_at: datetime,
                 window: datetime) -> None:
    import_orders(ctx.store, ctx.run, orders, window_start=window)
    mine = (Order.shop_id == ctx.store.shop_id, Order.store_id == ctx.store.id)  # the shop's key is indexed
    db.session.execute(update(Order).where(*mine, Order.external_id.in_(asked))
                       .values(reread_at=read_at).execution_options(synchronize_session=False))


def _retry_failed(ctx: Context, window: datetime) -> None:
    """R-REL-5: orders that failed before are re-read by id and imported again, changed on
    the shop or not; one the shop no longer has is dropped from the list with a log line."""
    for batch in _batches(FailedOrder.ids_of(ctx.store.id)):
        found = ctx.platform.fetch_orders(batch)
        gone = set(batch) - {order.external_id for order in found}
        ctx.write(functools.partial(_retry_page, ctx, found, gone, window))


def _retry_page(ctx: Context, found: Sequence[RemoteOrder], gone: set[str], window: datetime) -> None:
    import_orders(ctx.store, ctx.run, found, window_start=window)
    FailedOrder.gone_from_shop(ctx.store, ctx.run.id, gone)


def _batches(items: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
