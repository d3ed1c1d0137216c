"""The idempotent upsert of one page of platform orders into our orders.

Role in ``sync/``: the *importer*. A job hands it a page of ``RemoteOrder`` records; it
creates or updates one ``Order`` per (store, external id) (R-IMP-7), with its status by the
store's mapping (R-STA-2, R-IMP-6; only when the platform changed it, so that a status we
pushed back never loops, see ``status_push``), client and products (``matching``),
non-deductible items frozen after write-off (R-IMP-4, R-PRD-7), the amount as the total of
the items (R-ORD-6) and delivery comments (``delivery``). Orders the rules keep out
(R-IMP-2, R-IMP-5, R-ORD-7) are counted and logged. Every difference between platforms is
read from ``PlatformRules``.

A page is written in one go: what its orders need (the orders already imported, clients,
products, categories, delivery comments) is read in a few statements first (``PageFinder``,
``_Page.read``), the page's changes are made in memory and written by one flush, in bulk, in
one SAVEPOINT (new rows numbered first, ``row_ids``; new orders' items by one INSERT after the
flush). Only when that fails does the page go again order by order, each order in a
SAVEPOINT of its own with a statement per look-up (the careful path), so one broken order is
rolled back alone, logged and kept for retry, and the page goes on. Nothing here commits: the
caller commits the page together with the store's checkpoint, so a killed worker resumes at a
page boundary and re-imports nothing twice.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import (
    Employee, FailedOrder, FeedKind, LogLevel, Order, Role, Status, Store, SyncLogEntry, SyncRun,
)
from webapp.models import FeedEntry, OrderItem, Product  # R-REL-4: the shop's changes on record
from webapp.models.types import ZERO, utcnow
from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformRules, RemoteItem, RemoteOrder
from webapp.sync import matching, status_push
from webapp.sync.delivery import UNKNOWN, post_delivery
from webapp.sync.notifications import notify_managers
from webapp.sync.platform import rules_for
from webapp.sync.row_ids import number_new_rows
from webapp.sync.runner import transient

log = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED, SKIPPED, FAILED = "created", "updated", "unchanged", "skipped", "failed"
QUANTITY_STEP, PRICE_STEP = Decimal("0.001"), Decimal("0.01")  # the columns' scales
UNNAMED_LINE = "Item without a name"


@dataclass
class PageResult:
    """What one page did; the same counts are added to the ``SyncRun``."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    newest_wanted: datetime | None = None  # the newest order placed that a rule did not leave out

    def count(self, outcome: str, remote: RemoteOrder) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome != SKIPPED and (self.newest_wanted is None or remote.created_at > self.newest_wanted):
            self.newest_wanted = remote.created_at


def import_orders(store: Store, run: SyncRun, orders: Sequence[RemoteOrder], *,
                  initial: bool = False, window_start: datetime | None = None) -> PageResult:
    """Upsert each order in its own SAVEPOINT, log skipped and failed ones, add the counts
    (and ``fetched``) to ``run``. Never commits: the caller commits the page with the
    store's checkpoint. With ``initial``, orders in ``RULES.excluded_initial_statuses`` are
    skipped silently (R-IMP-2). With ``window_start`` (a sync), an order placed before it and
    not imported yet is left out, and the sync log says so once (R-IMP-2's window holds for
    syncs). Raises ValueError when the store has no location or order type (every order
    would fail; the message says what to edit)."""
    _check_store(store)
    _hold_transaction()
    fetched, orders = len(orders), _last_of_each(orders)
    try:
        result = _import_page(_Page.of(store, run, initial, window_start, orders), orders, initial)
    except Exception as error:
        if transient(error):
            raise  # the database itself: the runner writes the page again
        log.info("store %s: a page of %d orders failed as a whole (%s); importing them one by one",
                 store.id, len(orders), error)
        page, result = _Page.of(store, run, initial, window_start), PageResult()
        for remote in orders:
            result.count(_import_one(page, remote, initial), remote)
    _add_counts(run, result, fetched=fetched)
    _note_newest_on_shop(store, result.newest_wanted)
    return result


def _note_newest_on_shop(store: Store, newest: datetime | None) -> None:
    """The operations page's lag (issue 15): the newest order the shop has shown us that is ours
    to import (imported, or failed and kept for retry); one a rule leaves out (a finished order
    at the initial import, another currency) is no lag. Never moved back: a page of older
    orders (re-read by id, retried) says nothing of newer ones. Set after the page's SAVEPOINT,
    whose rollback would take the change with it."""
    if newest is not None and (store.shop_newest_order_at is None or newest > store.shop_newest_order_at):
        store.shop_newest_order_at = newest


def _last_of_each(orders: Sequence[RemoteOrder]) -> list[RemoteOrder]:
    """One record per order (a shop may list one twice in a page): its last, the newest read."""
    return list({remote.external_id: remote for remote in orders}.values())


def _import_page(page: _Page, orders: Sequence[RemoteOrder], initial: bool) -> PageResult:
    """The page in one SAVEPOINT and one flush; raises (after rolling the savepoint back) if any
    order fails, and the caller then goes order by order."""
    result = PageResult()
    with db.session.begin_nested(), db.session.no_autoflush:
        for remote in orders:
            result.count(_import_one(page, remote, initial), remote)
        page.finish()
        number_new_rows(db.session)  # one INSERT per table, without RETURNING
        db.session.flush()
        page.insert_lines()
    return result


def _check_store(store: Store) -> None:
    if store.location_id is None or store.order_type_id is None:
        raise ValueError(f"The store {store.name!r} has no location or order type for its orders. "
                         "Edit the store and choose both; the next sync imports its orders.")


def _hold_transaction() -> None:
    # Python's sqlite3 (legacy transaction mode) opens no transaction before a SAVEPOINT, and
    # releasing such a savepoint commits it: each order would be committed on its own, ahead
    # of the page's checkpoint. Opening the transaction here keeps the page one unit.
    # IMMEDIATE takes the write lock now, waiting up to the busy timeout for another writer:
    # a plain BEGIN would read first, and SQLite refuses a reader's later write at once
    # ("database is locked") rather than wait. Through SQLAlchemy, so a refusal arrives as its
    # OperationalError, which the runner retries (runner.again_if_transient).
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    if isinstance(dbapi, sqlite3.Connection) and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _add_counts(run: SyncRun, result: PageResult, fetched: int) -> None:
    run.fetched = (run.fetched or 0) + fetched
    for name in (CREATED, UPDATED, UNCHANGED, SKIPPED, FAILED):
        setattr(run, name, (getattr(run, name) or 0) + getattr(result, name))


# ---------------------------------------------------------------------------------------------
# One page: the store, its rules and what is looked up once per page
# ---------------------------------------------------------------------------------------------


@dataclass
class _Page:
    """A page's context. Read at once (``batch``, with the page's orders) or order by order."""

    store: Store
    run: SyncRun
    rules: PlatformRules
    title: str
    currency: str
    region: tuple[str, ...]  # R-CLI-5: after the order's own country, phones are read in these
    statuses: dict[str, Status | None] = field(default_factory=dict)
    managers: list[Employee] | None = None
    notify: bool = False
    window_start: datetime | None = None  # R-IMP-2: orders placed before it stay out of syncs
    finder: matching.Finder = matching.DATABASE
    batch: bool = False
    orders: dict[str, Order] = field(default_factory=dict)  # batch: the shop's orders we have, by id
    last_delivery: dict[int, str] = field(default_factory=dict)  # batch: order id → latest delivery comment
    created: list[Order] = field(default_factory=list)  # batch: numbered at the end, in one statement
    lines: list[tuple] = field(default_factory=list)  # batch: new orders' items, inserted after the flush
    settled: list[str] = field(default_factory=list)  # batch: imported or left out, so no longer failed
    logged: set[tuple[str, str | None]] = field(default_factory=set)  # batch: sync-log lines of this page

    @classmethod
    def of(cls, store: Store, run: SyncRun, initial: bool, window_start: datetime | None,
           orders: Sequence[RemoteOrder] | None = None) -> _Page:
        config = current_app.config
        page = cls(store, run, rules_for(store), PLATFORMS[store.platform].title, config["CURRENCY"],
                   (store.country, config["PHONE_REGION"]), window_start=window_start,
                   notify=not initial)  # R-ORD-8: the backfill of two months is history, not news
        if orders is not None:
            page.read(orders, initial)
        return page

    def read(self, orders: Sequence[RemoteOrder], initial: bool = False) -> None:
        """What the page's orders need, in a few statements (batch mode)."""
        self.batch = True
        self.orders = find_orders(self.store, [remote.external_id for remote in orders])
        if self.orders and self.rules.delivery_transferred:
            comments = (select(FeedEntry.order_id, FeedEntry.text)
                        .where(FeedEntry.order_id.in_([order.id for order in self.orders.values()]),
                               FeedEntry.kind == FeedKind.DELIVERY).order_by(FeedEntry.id))
            self.last_delivery = {order_id: text for order_id, text in db.session.execute(comments)}
        # The initial import leaves finished orders out unread (``_import_one``): their buyers'
        # phones need no parsing, nor their products and clients looking up.
        wanted = [remote for remote in orders if not (initial and _finished(self.rules, remote))]
        self.finder = matching.PageFinder.read(*self._keys(wanted))
        if any(remote.buyer is None for remote in orders):
            self.finder.not_specified()  # now: making it flushes, which must come before the page's rows

    def _keys(self, orders: Sequence[RemoteOrder]):
        products, categories, phones, emails = set(), set(), set(), set()
        for remote in orders:
            for line in remote.items:
                if (key := matching.product_key(line, self.rules, self.store.identify_by)) is not None:
                    products.add(key)
                    if (name := matching.category_name(line, self.rules)) is not None:
                        categories.add(name)
            if remote.buyer is not None:
                values = matching.client_values(remote.buyer, self.region, self.rules.buyer_address_kept)
                phones.update(filter(None, [values["phone"]]))
                emails.update(filter(None, [values["email"]]))
        return products, categories, phones, emails, "email" in self.rules.client_match_keys

    def find(self, external_id: str) -> Order | None:
        if self.batch:
            return self.orders.get(external_id)
        return find_order(self.store, external_id)

    def settle(self, remote: RemoteOrder) -> None:
        """The order was imported or left out by a rule: it is no longer one to retry (R-REL-5)."""
        if self.batch:
            self.settled.append(remote.external_id)
        else:
            FailedOrder.forget(self.store.id, remote.external_id)

    def finish(self) -> None:
        """Batch mode, after the orders: number the new ones, forget the settled ones' failures."""
        if self.created:
            for order, number in zip(self.created, Order.next_numbers(len(self.created))):
                order.number = number
        if self.settled:
            FailedOrder.forget_all(self.store.id, self.settled)

    def insert_lines(self) -> None:
        """Batch mode, after the flush (their orders and products are rows now): the new orders'
        items in one plain INSERT, in the order they were read, as the flush would have written them."""
        if self.lines:
            rows = [{"order_id": order.id, "product_id": product.id if product is not None else None,
                     "name": name, "quantity": quantity, "price": price, "deductible": False}
                    for order, product, name, quantity, price in self.lines]
            db.session.execute(insert(OrderItem.__table__), rows)

    def mapped_status(self, remote: RemoteOrder) -> Status | None:
        """R-STA-2: our status for the platform's, by the store's mapping; None if unmapped."""
        if remote.status_id not in self.statuses:
            target = (self.store.status_map or {}).get(remote.status_id)
            self.statuses[remote.status_id] = _status(target)
        status = self.statuses[remote.status_id]
        if status is None:
            self.log_unmapped(remote)
        return status

    def manager_list(self) -> list[Employee]:
        if self.managers is None:
            self.managers = manager_candidates(self.store)
        return self.managers

    def next_manager(self) -> Employee | None:
        """R-CON-2 (our choice): the store's managers take new orders in turn."""
        self.manager_list()
        if not self.managers:
            return None
        turn = self.store.manager_turn or 0
        self.store.manager_turn = (turn + 1) % len(self.managers)
        return self.managers[turn % len(self.managers)]

    def log(self, level: LogLevel, remote: RemoteOrder, reason: str) -> None:
        db.session.add(SyncLogEntry(store_id=self.store.id, run_id=self.run.id, level=level,
                                    external_id=remote.external_id, platform_number=remote.number,
                                    reason=reason))

    def log_once(self, remote: RemoteOrder, reason: str, per_order: bool = True) -> None:
        """A skip noted once per store: overlapping sync windows see the same order (or the
        same unmapped status) every 5 minutes, and one line says it all."""
        mark = (reason, remote.external_id if per_order else None)
        if mark in self.logged:
            return  # said earlier in this page (not flushed yet in batch mode)
        seen = select(SyncLogEntry.id).where(SyncLogEntry.store_id == self.store.id, SyncLogEntry.reason == reason)
        if per_order:
            seen = seen.where(SyncLogEntry.external_id == remote.external_id)
        if db.session.scalar(seen.limit(1)) is None:
            self.log(LogLevel.SKIPPED, remote, reason)
        self.logged.add(mark)

    def log_unmapped(self, remote: RemoteOrder) -> None:
        self.log_once(remote, unmapped_reason(self.title, remote.status_id), per_order=False)


def _status(target: object) -> Status | None:
    try:
        return db.session.get(Status, int(target))
    except (TypeError, ValueError):
        return None  # not mapped ("" or None in the store's settings)


def manager_candidates(store: Store) -> list[Employee]:
    """Active managers of the store: all who may see its location, or the selected ones."""
    if not store.managers_all:
        return sorted((person for person in store.managers if person.active), key=lambda person: person.id)
    query = select(Employee).where(Employee.active.is_(True), Employee.role == Role.MANAGER).order_by(Employee.id)
    return [person for person in db.session.scalars(query) if person.can_access(store.location_id)]


# ---------------------------------------------------------------------------------------------
# Rules that keep an order out (R-IMP-2, R-IMP-5, R-ORD-7): pure, with the employee's advice
# ---------------------------------------------------------------------------------------------


def order_label(remote: RemoteOrder) -> str:
    number = remote.number or remote.external_id
    return number if number.startswith("#") else f"#{number}"


def skip_reason(remote: RemoteOrder, rules: PlatformRules, currency: str, platform: str) -> str | None:
    """Why this order is not imported, as an employee can act on it; None to import it."""
    label = order_label(remote)
    if remote.currency != currency:
        return (f"Order {label} is in {remote.currency or 'no currency'}; this back office works in "
                f"{currency}, so it was not imported. Enter it by hand if you need it here, or sell in "
                f"{currency} on {platform}.")
    if rules.skip_without_items and not remote.items:
        return (f"Order {label} has no products on {platform}, so it was not imported. Add its "
                "products there; the next sync imports it.")
    if rules.skip_without_contact and (remote.buyer is None or not remote.buyer.has_contact):
        return (f"Order {label} has no client e-mail or phone on {platform}, so it was not imported. "
                "Add the buyer's e-mail or phone to the order there; the next sync imports it.")
    return None


def unmapped_reason(platform: str, status_id: str) -> str:
    return (f'{platform} status "{status_id}" is not mapped to a back-office status: new orders in it '
            "get their order type's first status and imported ones keep theirs. Map it in the "
            "store's settings; the next sync applies it.")


def failure_reason(remote: RemoteOrder, error: Exception) -> str:
    message = str(getattr(error, "orig", None) or error).strip().splitlines()
    detail = message[0][:300] if message else type(error).__name__
    return (f"Order {order_label(remote)} could not be imported: {detail}. The next sync tries again; "
            "if it keeps failing, contact support with this message.")


# ---------------------------------------------------------------------------------------------
# One order
# ---------------------------------------------------------------------------------------------


def _import_one(page: _Page, remote: RemoteOrder, initial: bool) -> str:
    """One order's outcome. A failed one is kept in ``FailedOrder`` for every later sync to
    retry (R-REL-5); imported or left out by a rule, it is retried no more."""
    if _finished(page.rules, remote) and (initial or _is_history(page, remote)):
        page.settle(remote)
        return SKIPPED  # R-IMP-2: finished orders are history, not work; nothing to report
    reason = skip_reason(remote, page.rules, page.currency, page.title) or _before_window(page, remote)
    if reason is not None:
        page.log_once(remote, reason)
        page.settle(remote)
        return SKIPPED
    if page.batch:  # the page's savepoint stands for every order's (see _import_page)
        outcome = _upsert(page, remote)
        page.settle(remote)
        return outcome
    try:
        with db.session.begin_nested():
            outcome = _upsert(page, remote)
            FailedOrder.forget(page.store.id, remote.external_id)
            return outcome
    except Exception as error:  # one broken order must not stop the page: it is retried next run
        log.warning("store %s: order %s failed", page.store.id, remote.external_id, exc_info=True)
        reason = failure_reason(remote, error)
        page.log(LogLevel.FAILED, remote, reason)
        FailedOrder.note(page.store.id, remote.external_id, remote.number, reason)
        return FAILED


def _finished(rules: PlatformRules, remote: RemoteOrder) -> bool:
    """R-IMP-2: an order in a finished status, which the initial import leaves out (unread)."""
    return remote.status_id in rules.excluded_initial_statuses


def _is_history(page: _Page, remote: RemoteOrder) -> bool:
    """A finished order placed before the store was connected, not imported: a sync's overlap
    (or a late refund) shows it, but R-IMP-2 left it out of the import, and so does the sync."""
    return remote.created_at < page.store.created_at and page.find(remote.external_id) is None


def _before_window(page: _Page, remote: RemoteOrder) -> str | None:
    """Why a sync leaves this order out: placed before the initial import's window (R-IMP-2),
    which did not take it, though it changed on the shop since. None to go on."""
    start = page.window_start
    if start is None or remote.created_at >= start or page.find(remote.external_id) is not None:
        return None
    zone = ZoneInfo(current_app.config["TIMEZONE"])  # how the office reads dates; the text stays fixed
    return before_window_reason(remote, page.title, start.astimezone(zone), remote.created_at.astimezone(zone))


def before_window_reason(remote: RemoteOrder, platform: str, start: datetime, placed: datetime) -> str:
    return (f"Order {order_label(remote)} was placed on {placed:%Y-%m-%d}, before the two months the initial "
            f"import took in (orders placed from {start:%Y-%m-%d} on), so it was not imported, though it "
            f"changed on {platform} since. Enter it by hand if you need it here.")


def find_order(store: Store, external_id: str) -> Order | None:
    """The shop's order, whichever store of the shop imported it (R-REL-1)."""
    return db.session.scalar(select(Order).filter_by(shop_id=store.shop_id, external_id=external_id))


def find_orders(store: Store, external_ids: Sequence[str]) -> dict[str, Order]:
    """``find_order`` for a page, by external id, with what the importer reads of each."""
    found = (select(Order).where(Order.shop_id == store.shop_id, Order.external_id.in_(external_ids))
             .options(selectinload(Order.items), selectinload(Order.client), selectinload(Order.status)))
    return {order.external_id: order for order in db.session.scalars(found)}


def _upsert(page: _Page, remote: RemoteOrder) -> str:
    order = page.find(remote.external_id)
    if order is None and page.batch:
        page.orders[remote.external_id] = _create(page, remote)
        return CREATED
    if order is None:
        try:
            with db.session.begin_nested():
                _create(page, remote)
            return CREATED
        except IntegrityError:
            # Another worker imported it between our look-up and our insert (R-IMP-7).
            order = find_order(page.store, remote.external_id)
            if order is None:
                raise
    return UPDATED if _update(page, order, remote) else UNCHANGED


def _create(page: _Page, remote: RemoteOrder) -> Order:
    store = page.store
    # Everything that queries comes first: an autoflush must not meet a half-built order.
    (status, seen), manager = _initial_status(page, remote), page.next_manager()
    client = matching.client_for(remote.buyer, page.rules, page.region, page.finder)
    order = Order(
        number=None if page.batch else _next_number(), store_id=store.id, shop_id=store.shop_id, external_id=remote.external_id,
        platform_number=remote.number, location_id=store.location_id, order_type_id=store.order_type_id,
        status=status, client=client, manager=manager, currency=remote.currency, created_at=remote.created_at,
        platform_created_at=remote.created_at, synced_at=utcnow(), platform_status=seen,
        platform_total=remote.platform_total)
    db.session.add(order)
    if page.batch:  # a new order's lines are its content, not changes: no feed entry
        _new_lines(page, order, remote)
    else:
        _sync_items(page, order, remote)
    post_delivery(order, remote.delivery, page.rules, page.run.id, last=None)
    if page.batch:
        page.created.append(order)  # numbered and flushed with the page
    else:
        db.session.flush()  # inside the savepoint, so a duplicate key is caught by _upsert
    if page.notify:
        notify_managers(order, page.manager_list())
    return order


def _new_lines(page: _Page, order: Order, remote: RemoteOrder) -> None:
    """Batch mode: a new order's items as ``_sync_items`` adds them (a line at 0 is none), kept
    for ``_Page.insert_lines``: the ORM's work per item is most of a page's. Its amount is theirs."""
    totals = []
    for line in remote.items:
        quantity, price = line_values(line)
        if quantity <= 0:
            continue
        product = matching.product_for(line, page.rules, page.store.identify_by, page.finder)
        page.lines.append((order, product, line_name(line), quantity, price))
        totals.append(OrderItem.line_total(quantity, price))
    if totals:
        order.amount = sum(totals, ZERO)  # R-ORD-6, as Order.recompute_amount


def _next_number() -> str:
    # The counter row is created on first use; two workers creating it at once collide on
    # its primary key, and the loser just takes the next number from the winner's row.
    return matching.again_if_raced(Order.next_number)


def _initial_status(page: _Page, remote: RemoteOrder) -> tuple[Status, str | None]:
    """R-IMP-6 / R-STA-2: the mapped status, else the order type's initial one; and the
    platform status to remember as seen (``Order.platform_status``)."""
    initial = page.store.order_type.initial_status
    if _statuses_ignored(page.rules):
        return initial, remote.status_id
    mapped = page.mapped_status(remote)
    # An unmapped status is not remembered: once someone maps it, the next sync applies it.
    return (mapped, remote.status_id) if mapped else (initial, None)


def _statuses_ignored(rules: PlatformRules) -> bool:
    """R-IMP-6 / R-STA-4: the platform's status never moves ours."""
    return rules.initial_status_from_order_type or not rules.statuses_in


def _update(page: _Page, order: Order, remote: RemoteOrder) -> bool:
    """Apply what changed on the platform; True if anything did (``synced_at`` aside).

    R-REL-4: every change is in the feed, by this run. A status and a delivery keep their own
    entries (their own kinds in the feed); the rest (items, the amount, the client, the shop's
    total) is one entry listing each change from → to.
    """
    changed = _sync_status(page, order, remote)
    last = page.last_delivery.get(order.id) if page.batch else UNKNOWN
    changed |= post_delivery(order, remote.delivery, page.rules, page.run.id, last=last)
    items, told = _item_changes(page, order, remote)
    changes = _sync_client(page, order, remote) + items + _sync_total(order, remote, told)
    if changes:
        order.note(FeedKind.SYSTEM, f"Changed on {page.title}: {'; '.join(changes)}.", run_id=page.run.id)
    order.synced_at = utcnow()
    return changed or bool(changes)


def _item_changes(page: _Page, order: Order, remote: RemoteOrder) -> tuple[list[str], bool]:
    """The items' changes applied, with the amount's; and whether the shop's lines differ from
    what the order had (after write-off: reported, not applied, R-IMP-4)."""
    if order.is_written_off:
        return [], _report_frozen(page, order, remote)
    amount = order.amount
    changes = _sync_items(page, order, remote)
    if order.amount != amount:
        changes.append(f"amount {amount:.2f} → {order.amount:.2f} {order.currency}")
    return changes, bool(changes)


def _sync_client(page: _Page, order: Order, remote: RemoteOrder) -> list[str]:
    client = matching.client_on_update(order.client, remote.buyer, page.rules, page.region, page.finder)
    if client is order.client:
        return []
    previous, order.client = order.client.full_name, client
    return [f"client {previous} → {client.full_name}"]


def _sync_total(order: Order, remote: RemoteOrder, items_told: bool) -> list[str]:
    """The shop's own total (shown beside ours when they differ); a change is named unless it
    is the first one known or the items' change (applied or not) already tells it."""
    previous, total = order.platform_total, remote.platform_total
    order.platform_total = total
    if previous is None or total is None or previous == total or items_told:
        return []
    return [f"the shop's total {previous:.2f} → {total:.2f} {order.currency}"]


def _sync_status(page: _Page, order: Order, remote: RemoteOrder) -> bool:
    """R-STA-2, without loops (pitfalls row 5): the platform's status is applied only when it
    changed since we last read it or sent ours. So a status we pushed comes back as no
    change, and a change made here and not (yet) pushed is not undone by a stale one.
    NULL (imported before we remembered it) is "not known": applied as a change."""
    if remote.status_id == order.platform_status:
        return False
    if _statuses_ignored(page.rules):
        order.platform_status = remote.status_id
        return False
    status = page.mapped_status(remote)
    if status is None:
        return False  # not remembered: mapping it later applies it (see _initial_status)
    if status.id != order.status_id and status_push.underway(order.id):
        # R-HOOK-5: our push of a newer choice is on its way, and this may be the webhook of an
        # earlier one: not applied, nor remembered, so the next read after the push decides.
        return False
    order.platform_status = remote.status_id
    if status.id == order.status_id:
        return False
    previous = order.status.name
    order.status = status
    order.note(FeedKind.STATUS, f"Status changed on {page.title}: {previous} → {status.name}", run_id=page.run.id)
    return True


# ---------------------------------------------------------------------------------------------
# Items (R-IMP-4, R-ORD-6, R-PRD-7)
# ---------------------------------------------------------------------------------------------


def line_name(line: RemoteItem) -> str:
    return matching.fit(line.name or line.sku or UNNAMED_LINE, matching.PRODUCT_WIDTHS["name"])


def line_values(line: RemoteItem) -> tuple[Decimal, Decimal]:
    """Quantity and price as the columns keep them, so an unchanged line compares equal."""
    return (line.quantity.quantize(QUANTITY_STEP, ROUND_HALF_UP), line.price.quantize(PRICE_STEP, ROUND_HALF_UP))


def _sync_items(page: _Page, order: Order, remote: RemoteOrder) -> list[str]:
    """Bring the order's items to the platform's lines; what changed, as phrases for the feed.

    Platform lines are matched to our items by product (or name), in line order. Items
    with no platform line are left alone: an employee may have added them here. After
    write-off nothing changes (R-IMP-4; ``_report_frozen`` puts the difference on record).
    """
    if order.is_written_off:
        return []
    unused = list(order.items)
    changes = [change for line in remote.items if (change := _sync_line(page, order, line, unused))]
    if changes:
        order.recompute_amount()
    return changes


def _sync_line(page: _Page, order: Order, line: RemoteItem, unused: list, apply: bool = True) -> str | None:
    """Match one platform line to an item and say what differs ("Charger quantity 1 → 3").
    Only with ``apply`` is the item changed (or a product created for a new line)."""
    quantity, price = line_values(line)
    name = line_name(line)
    if quantity <= 0:  # removed on the platform (Shopify keeps such lines at 0)
        item = _take(unused, None, name)
        if item is not None and apply:
            order.items.remove(item)
        return None if item is None else f"{item.name} removed"
    product = (matching.product_for(line, page.rules, page.store.identify_by, page.finder) if apply
               else _known_product(page, line))
    item = _take(unused, product, name)
    if item is None:
        if apply:
            order.add_item(name, quantity, price, product=product, deductible=False)
        return f"{name} added ({quantity_text(quantity)} × {price:.2f})"
    change = item_change(item.name, (item.quantity, item.price), (quantity, price))
    if apply:
        item.quantity, item.price = quantity, price
    return change


def quantity_text(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"  # 3.000 -> "3", 1.500 -> "1.5"


def item_change(name: str, before: tuple[Decimal, Decimal], after: tuple[Decimal, Decimal]) -> str | None:
    """ "Charger quantity 1 → 3, price 9.50 → 8.00"; None when nothing differs."""
    parts = []
    if before[0] != after[0]:
        parts.append(f"quantity {quantity_text(before[0])} → {quantity_text(after[0])}")
    if before[1] != after[1]:
        parts.append(f"price {before[1]:.2f} → {after[1]:.2f}")
    return f"{name} {', '.join(parts)}" if parts else None


def _known_product(page: _Page, line: RemoteItem) -> Product | None:
    """The line's catalogue product if there is one; never creates it (nothing is applied)."""
    key = matching.product_key(line, page.rules, page.store.identify_by)
    if key is None:
        return None
    field, value = key
    return db.session.scalar(select(Product).where(getattr(Product, field) == value).order_by(Product.id))


# After write-off (R-IMP-4, R-REL-4): the shop's changes on record, not applied, once each.


def not_applied_prefix(platform: str) -> str:
    return f"Changed on {platform}, not applied: the order is written off — "


def not_applied_text(platform: str, changes: Sequence[str]) -> str:
    return f"{not_applied_prefix(platform)}{'; '.join(changes)}."


def matching_again_text(platform: str) -> str:
    return f"Changed on {platform}: its items match this order again; nothing is left unapplied."


def not_applied_reason(remote: RemoteOrder, order: Order, platform: str, changes: Sequence[str]) -> str:
    return (f"Order {order_label(remote)} changed on {platform} after its products were written off here "
            f"(order {order.number}), so the change was not applied: {'; '.join(changes)}. The order keeps "
            "what was written off; if the change stands, settle the difference by hand.")


def _report_frozen(page: _Page, order: Order, remote: RemoteOrder) -> bool:
    """A feed entry and a sync-log line for a difference not applied, once per distinct one;
    True if the shop's lines differ from the order's items (reported now or before).

    The shop reports the same lines at every sync; the order's latest such entry is what was
    last reported, so the same difference is not written again. When the shop comes back to
    the order's items, one entry says so: a difference seen again later is a new change.
    """
    unused = list(order.items)
    changes = [change for line in remote.items
               if (change := _sync_line(page, order, line, unused, apply=False))]
    last = _last_frozen_report(order, page.title)
    if changes:
        text = not_applied_text(page.title, changes)
        if text != last:
            order.note(FeedKind.SYSTEM, text, run_id=page.run.id)
            page.log(LogLevel.NOT_APPLIED, remote, not_applied_reason(remote, order, page.title, changes))
    elif last is not None and last != matching_again_text(page.title):
        order.note(FeedKind.SYSTEM, matching_again_text(page.title), run_id=page.run.id)
    return bool(changes)


def _last_frozen_report(order: Order, platform: str) -> str | None:
    reports = or_(FeedEntry.text.startswith(not_applied_prefix(platform), autoescape=True),
                  FeedEntry.text == matching_again_text(platform))
    query = (select(FeedEntry.text).where(FeedEntry.order_id == order.id, FeedEntry.kind == FeedKind.SYSTEM, reports)
             .order_by(FeedEntry.id.desc()).limit(1))
    return db.session.scalar(query)


def _take(unused: list, product, name: str):
    """The first not yet matched item of this product, else of this name."""
    for wanted in (lambda item: product is not None and item.product is product,
                   lambda item: item.name == name):
        for item in unused:
            if wanted(item):
                unused.remove(item)
                return item
    return None
