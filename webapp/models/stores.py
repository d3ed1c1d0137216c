"""Connected shops, their sync runs and the log of what a run skipped or could not import.

Credentials are encrypted at rest (MultiFernet from `cryptography`) under keys that can be
rotated: webapp/secrets.py says where they come from, `flask secrets rotate` re-encrypts.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from webapp.extensions import db
from webapp.models.staff import Employee, Location
from webapp.models.types import UTCDateTime, str_enum, utcnow
from webapp.platforms.base import shop_address
from webapp.secrets import decrypt, encrypt

store_managers = Table(
    "store_managers",
    db.metadata,
    Column("store_id", ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
)


class Shop(db.Model):
    """A shop on a platform, whatever store connects it (R-REL-1).

    The shop owns its orders' external ids (``uq_orders_shop_external``): deleting a store and
    connecting the same shop again finds the orders already imported from it. ``address`` is
    ``platforms.base.shop_address`` of the store's URL (host, port and path; no scheme, no
    "www."), so http/https and "www." spellings of one shop are one shop.
    """

    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "address", name="uq_shops_platform_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Shop {self.id} {self.platform} {self.address}>"


def _attach_shops(session: Session, _context, _instances) -> None:
    """Every store has its shop (R-REL-1), however it was made (wizard, CLI, demo, tests)."""
    for store in (obj for obj in session.new if isinstance(obj, Store)):
        if store.shop is None and store.shop_id is None and store.url:
            store.shop = shop_for(session, store.platform, store.url)


def shop_for(session: Session, platform: str, url: str) -> Shop:
    """The shop at this address, created on first use."""
    address = shop_address(url)
    with session.no_autoflush:
        shop = session.scalar(select(Shop).filter_by(platform=platform, address=address))
    if shop is None:
        shop = Shop(platform=platform, address=address)
        session.add(shop)
    return shop


event.listen(Session, "before_flush", _attach_shops)


def _platform_country(context) -> str:
    """The default of ``Store.country``: the store's platform's (``PlatformRules.default_country``)."""
    from webapp.platforms import PLATFORMS  # the adapters import more than a model needs at import time

    adapter = PLATFORMS.get(context.get_current_parameters().get("platform"))
    return adapter.RULES.default_country if adapter else ""


def new_hook_token() -> str:
    """The store's part of its webhook address (R-HOOK-2): 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class ImportState(StrEnum):
    PENDING = "pending"    # saved, initial import not started yet
    RUNNING = "running"
    DONE = "done"          # the store syncs every 5 minutes from now on (R-IMP-3)


class Store(db.Model):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    credentials_encrypted: Mapped[str] = mapped_column(Text, default="")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    order_type_id: Mapped[int | None] = mapped_column(ForeignKey("order_types.id"))
    language: Mapped[str] = mapped_column(String(8), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    # R-CLI-5: ISO 3166 alpha-2; phones without a country code are read here when the order names
    # no country ("": in PHONE_REGION). A new store gets its platform's default (Cartum "UA").
    country: Mapped[str] = mapped_column(String(2), default=_platform_country, server_default="")
    identify_by: Mapped[str] = mapped_column(String(16), default="name")
    managers_all: Mapped[bool] = mapped_column(Boolean, default=True)
    # platform status id -> back-office status id (R-STA-2), and back (R-STA-1/3).
    status_map: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    checkpoint: Mapped[str | None] = mapped_column(Text)  # adapter cursor of the run in progress
    synced_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # start of the last complete run
    import_state: Mapped[ImportState] = mapped_column(str_enum(ImportState, 16), default=ImportState.PENDING)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Issue 15, the operations page: the newest order the shop has shown a sync (its own created
    # time, set by the importer, never moved back); against the newest imported, the store's lag.
    shop_newest_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manager_turn: Mapped[int] = mapped_column(Integer, default=0)  # round-robin position
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # R-HOOK-1..4 (webapp/sync/webhooks.py): the unguessable part of the address the shop sends
    # its webhooks to; WooCommerce's signing secret (ours, encrypted like the credentials); the
    # shop's ids of our subscriptions and the address they deliver to; the last registration's
    # error and time; when the last verified delivery came (the poll slows down while they work).
    hook_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_hook_token)
    hook_secret_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    hook_ids: Mapped[list] = mapped_column(JSON, default=list)
    hook_address: Mapped[str | None] = mapped_column(String(512))
    hook_error: Mapped[str | None] = mapped_column(Text)
    hook_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hook_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shop: Mapped[Shop | None] = relationship()
    location: Mapped[Location | None] = relationship()
    order_type = relationship("OrderType")
    managers: Mapped[list[Employee]] = relationship(secondary=store_managers, order_by=Employee.name)

    @property
    def credentials(self) -> dict:
        return json.loads(decrypt(self.credentials_encrypted)) if self.credentials_encrypted else {}

    @credentials.setter
    def credentials(self, values: dict) -> None:
        self.credentials_encrypted = encrypt(json.dumps(values))

    @property
    def hook_secret(self) -> str:
        """The secret WooCommerce signs this store's webhooks with (R-HOOK-2); "" before one is made."""
        return decrypt(self.hook_secret_encrypted) if self.hook_secret_encrypted else ""

    @hook_secret.setter
    def hook_secret(self, value: str) -> None:
        self.hook_secret_encrypted = encrypt(value) if value else ""

    def __repr__(self) -> str:  # never the credentials
        return f"<Store {self.id} {self.platform} {self.name!r}>"


class RunKind(StrEnum):
    INITIAL = "initial"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    WEBHOOK = "webhook"


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncRun(db.Model):
    """One import or sync of one store, with its counts and progress."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RunKind] = mapped_column(str_enum(RunKind, 16))
    state: Mapped[RunState] = mapped_column(str_enum(RunState, 16), default=RunState.QUEUED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    expected: Mapped[int | None] = mapped_column(Integer)  # total to fetch, when the platform says
    error: Mapped[str | None] = mapped_column(Text)

    store: Mapped[Store] = relationship()


class LogLevel(StrEnum):
    SKIPPED = "skipped"   # a rule says this order is not imported (currency, no contact, ...)
    NOT_APPLIED = "not applied"  # the shop changed an order that is written off here (R-REL-4)
    FAILED = "failed"     # this order could not be imported; the next run tries again
    ERROR = "error"       # the whole run failed (401, shop unreachable, ...)
    WEBHOOK = "webhook"   # R-HOOK-7: webhook deliveries taken in (how many, what they changed)
    REFUSED = "refused"   # R-HOOK-2: a webhook refused (wrong signature); nothing was done with it


class SyncLogEntry(db.Model):
    """Something an employee can act on: which platform order, and why."""

    __tablename__ = "sync_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True)
    level: Mapped[LogLevel] = mapped_column(str_enum(LogLevel, 16))
    external_id: Mapped[str | None] = mapped_column(String(64))
    platform_number: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FailedOrder(db.Model):
    """A platform order that could not be imported; every later sync retries it (R-REL-5)
    until it is imported or a rule leaves it out, and the row goes."""

    __tablename__ = "failed_orders"
    __table_args__ = (UniqueConstraint("store_id", "external_id", name="uq_failed_orders_store_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    platform_number: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @classmethod
    def note(cls, store_id: int, external_id: str, platform_number: str | None, reason: str) -> None:
        """Keep this order for the next sync's retry; a repeat failure counts another attempt."""
        row = db.session.scalar(select(cls).filter_by(store_id=store_id, external_id=external_id))
        if row is None:
            db.session.add(cls(store_id=store_id, external_id=external_id, platform_number=platform_number,
                               reason=reason))
            return
        row.platform_number, row.reason, row.last_failed_at = platform_number, reason, utcnow()
        row.attempts = (row.attempts or 0) + 1

    @classmethod
    def forget(cls, store_id: int, external_id: str) -> None:
        """The order was imported or a rule left it out: nothing more to retry."""
        db.session.execute(delete(cls).filter_by(store_id=store_id, external_id=external_id),
                           execution_options={"synchronize_session": False})

    @classmethod
    def forget_all(cls, store_id: int, external_ids: list[str]) -> None:
        """``forget`` for a page of orders, in one statement."""
        db.session.execute(delete(cls).where(cls.store_id == store_id, cls.external_id.in_(external_ids)),
                           execution_options={"synchronize_session": False})

    @classmethod
    def ids_of(cls, store_id: int) -> list[str]:
        """The external ids a sync retries (R-REL-5), oldest failure first."""
        return list(db.session.scalars(select(cls.external_id).filter_by(store_id=store_id).order_by(cls.id)))

    @classmethod
    def gone_from_shop(cls, store: Store, run_id: int, external_ids: set[str]) -> None:
        """These orders are no longer on the shop: nothing to retry; the sync log says so."""
        for row in db.session.scalars(select(cls).where(cls.store_id == store.id, cls.external_id.in_(external_ids))):
            label = row.platform_number or row.external_id
            db.session.add(SyncLogEntry(
                store_id=store.id, run_id=run_id, level=LogLevel.SKIPPED, external_id=row.external_id,
                platform_number=row.platform_number,
                reason=(f"Order {label} could not be imported earlier and is no longer on the shop "
                        f"(deleted there), so it is not tried again. Nothing to do unless it should "
                        f"exist: then add it again on the shop or enter it by hand.")))
            db.session.delete(row)

    @classmethod
    def count_of(cls, store_id: int) -> int:
        return db.session.scalar(select(func.count(cls.id)).filter_by(store_id=store_id)) or 0
