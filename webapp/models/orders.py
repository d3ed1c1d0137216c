"""Work orders: statuses and their groups, order types, orders, their items and event feed."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, insert, inspect, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.catalog import Product
from webapp.models.clients import Client
from webapp.models.staff import Employee, Location
from webapp.models.stores import Store
from webapp.models.types import ZERO, Money, Quantity, UTCDateTime, str_enum, utcnow


class StatusGroup(StrEnum):
    """Every status belongs to a group; the group carries the meaning (back-office-domain B.3)."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    PENDING = "pending"
    DELIVERY = "delivery"
    COMPLETED = "completed"
    CLOSED_SUCCESS = "closed_success"
    CLOSED_FAIL = "closed_fail"

    @property
    def label(self) -> str:
        return GROUP_LABELS[self]

    @property
    def is_closed(self) -> bool:
        return self in (StatusGroup.CLOSED_SUCCESS, StatusGroup.CLOSED_FAIL)


GROUP_LABELS = {
    StatusGroup.NEW: "New",
    StatusGroup.IN_PROGRESS: "In progress",
    StatusGroup.PENDING: "Pending",
    StatusGroup.DELIVERY: "Delivery",
    StatusGroup.COMPLETED: "Completed",
    StatusGroup.CLOSED_SUCCESS: "Closed successfully",
    StatusGroup.CLOSED_FAIL: "Closed unsuccessfully",
}


class Status(db.Model):
    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    color: Mapped[str] = mapped_column(String(7), default="#2563eb")
    group: Mapped[StatusGroup] = mapped_column(str_enum(StatusGroup))
    position: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<Status {self.name}>"


class OrderType(db.Model):
    __tablename__ = "order_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    initial_status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id"))
    initial_status: Mapped[Status] = relationship()


class Counter(db.Model):
    """Named counters for human document numbers, incremented atomically in the database."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)

    @staticmethod
    def next(name: str, count: int = 1) -> int:
        """The first of ``count`` numbers taken at once (they are the next ``count`` ones)."""
        bump = update(Counter).where(Counter.name == name).values(value=Counter.value + count).returning(Counter.value)
        value = db.session.execute(bump).scalar()
        if value is None:  # its first use; a plain INSERT, so nothing else pending is flushed with it
            db.session.execute(insert(Counter).values(name=name, value=count))
            value = count
        return value - count + 1


SEARCH_FIELD, SEARCH_PHONE = "\x1f", "\x1e"  # the separators in the search_text columns (migration 0008)


class Order(db.Model):
    __tablename__ = "orders"
    # The database fills search_text; fetching it back after each insert would make every
    # imported order an INSERT of its own: it is read when asked for (it is deferred anyway).
    __mapper_args__ = {"eager_defaults": False}
    # R-REL-1: the shop, not the store, owns the external id; a store connected again finds it.
    # The orders table (issue 13) reads one page in its order for any filter: each filter's
    # index goes on with the date (ties by id); the text search has its own (search_text).
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id", name="uq_orders_shop_external"),
        Index("ix_orders_created", "created_at", "id"),
        Index("ix_orders_status_created", "status_id", "created_at", "id"),
        Index("ix_orders_location_created", "location_id", "created_at", "id"),
        Index("ix_orders_store_created", "store_id", "created_at", "id"),
        Index("ix_orders_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    order_type_id: Mapped[int] = mapped_column(ForeignKey("order_types.id"))
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    written_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Integration columns: set for orders that came from a connected store.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64))
    platform_number: Mapped[str | None] = mapped_column(String(64))
    platform_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a sync or an update button last re-read the order by its id (NULL: never): where the
    # shop cannot list changed orders (Cartum), syncs re-read the open ones oldest first (jobs).
    reread_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The platform's status id as last read from it or sent to it (NULL: not known yet). A
    # sync applies the platform's status only when it differs from this, so a status we sent
    # does not come back as a change, and is not sent again (pitfalls row 5).
    platform_status: Mapped[str | None] = mapped_column(String(64))
    # The shop's own order total (shipping, discounts and taxes included), shown beside ours
    # when they differ; ours is the sum of the items (R-ORD-6).
    platform_total: Mapped[Decimal | None] = mapped_column(Money)
    # What the orders table's text search looks in on the order: its number and platform number,
    # each ended by SEARCH_FIELD, then SEARCH_PHONE (Client.search_text has the client's). The
    # database keeps it, with triggers (migration 0008), whatever writes orders: nothing sets it here.
    search_text: Mapped[str] = mapped_column(Text, server_default="", deferred=True)

    location: Mapped[Location] = relationship()
    order_type: Mapped[OrderType] = relationship()
    status: Mapped[Status] = relationship()
    client: Mapped[Client] = relationship(back_populates="orders")
    manager: Mapped[Employee | None] = relationship()
    store: Mapped[Store | None] = relationship()
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    feed: Mapped[list[FeedEntry]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="FeedEntry.created_at.desc(), FeedEntry.id.desc()"
    )

    @staticmethod
    def next_number() -> str:
        return f"A{Counter.next('order'):05d}"

    @staticmethod
    def next_numbers(count: int) -> list[str]:
        """The next ``count`` order numbers, taken in one statement (a page of imported orders)."""
        first = Counter.next("order", count)
        return [f"A{value:05d}" for value in range(first, first + count)]

    @property
    def is_imported(self) -> bool:
        return self.store_id is not None

    @property
    def is_written_off(self) -> bool:
        return self.written_off_at is not None

    def recompute_amount(self) -> None:
        """The amount is always the total of the items (SPEC R-ORD-6)."""
        self.amount = sum((item.total for item in self.items), ZERO)

    def note(self, kind: FeedKind, text: str, author: Employee | None = None, run_id: int | None = None) -> FeedEntry:
        """Add a line to the event feed (``author`` None for the system; ``run_id`` the sync run
        that brought a change from the shop, R-REL-4)."""
        entry = FeedEntry(kind=kind, text=text, author=author, run_id=run_id, created_at=utcnow())
        if "feed" in inspect(self).unloaded:
            entry.order = self  # joins the feed without reading it (an import adds lines to many orders)
            db.session.add(entry)
        else:
            self.feed.append(entry)
        return entry

    def change_status(self, status: Status, author: Employee | None) -> FeedEntry | None:
        """Set a new status and record the change in the feed; nothing happens if it is the same."""
        if status.id == self.status_id:
            return None
        previous = self.status.name
        self.status = status
        return self.note(FeedKind.STATUS, f"Status changed: {previous} → {status.name}", author)

    def add_item(self, name: str, quantity: Decimal, price: Decimal, product: Product | None = None,
                 deductible: bool = False) -> OrderItem:
        if self.is_written_off:
            raise OrderLocked("The products of this order are written off; items can no longer change.")
        item = OrderItem(name=name, quantity=quantity, price=price, product=product, deductible=deductible)
        if deductible and product is not None:
            product.stock -= quantity  # a deductible item takes its stock at once
        self.items.append(item)
        self.recompute_amount()
        return item

    def write_off(self, author: Employee | None) -> FeedEntry:
        """Deduct every not-yet-deducted item from stock and freeze the items."""
        if self.is_written_off:
            raise OrderLocked("The products of this order are already written off.")
        if not self.items:
            raise OrderLocked("The order has no products to write off. Add its products first.")
        lines = []
        for item in self.items:
            if item.product is not None and not item.deductible:
                item.product.stock -= item.quantity
                if item.product.stock < 0:
                    lines.append(f"{item.product.name}: stock is now {item.product.stock.normalize():f}")
            item.deductible = True
        self.written_off_at = utcnow()
        count = len(self.items)
        text = f"Products written off: {count} item{'s' if count != 1 else ''}, total {self.amount:.2f} {self.currency}"
        if lines:
            text += ". Below zero after write-off — " + "; ".join(lines)
        return self.note(FeedKind.SYSTEM, text, author)


class OrderLocked(Exception):
    """The order's items cannot change any more; the message says why and what to do."""


class OrderItem(db.Model):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    price: Mapped[Decimal] = mapped_column(Money)
    # False: added "without deduction" (reserved, stock untouched until the order is written off).
    deductible: Mapped[bool] = mapped_column(Boolean, default=False)

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product | None] = relationship()

    @property
    def total(self) -> Decimal:
        return self.line_total(self.quantity, self.price)

    @staticmethod
    def line_total(quantity: Decimal, price: Decimal) -> Decimal:
        return (quantity * price).quantize(Decimal("0.01"))


class FeedKind(StrEnum):
    COMMENT = "comment"
    STATUS = "status"
    DELIVERY = "delivery"
    SYSTEM = "system"


class FeedEntry(db.Model):
    """One line of an order's event feed: an employee's comment or something that happened."""

    __tablename__ = "feed_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FeedKind] = mapped_column(str_enum(FeedKind, 16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    # The sync run that brought this change from the shop (R-REL-4); None for employees' entries.
    # Indexed: pruning old runs (sync/retention.py) finds their entries without a scan.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="feed")
    author: Mapped[Employee | None] = relationship()
