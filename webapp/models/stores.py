"""Connected shops, their sync runs and the log of what a run skipped or could not import.

Credentials are encrypted at rest (Fernet from `cryptography`); the key comes from
ORDERDOCK_ENCRYPTION_KEY or is generated once into ``instance/encryption_key``.
"""
from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.staff import Employee, Location
from webapp.models.types import UTCDateTime, str_enum, utcnow
from webapp.secrets import decrypt, encrypt

store_managers = Table(
    "store_managers",
    db.metadata,
    Column("store_id", ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
)


class ImportState(StrEnum):
    PENDING = "pending"    # saved, initial import not started yet
    RUNNING = "running"
    DONE = "done"          # the store syncs every 5 minutes from now on (R-IMP-3)


class Store(db.Model):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    credentials_encrypted: Mapped[str] = mapped_column(Text, default="")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    order_type_id: Mapped[int | None] = mapped_column(ForeignKey("order_types.id"))
    language: Mapped[str] = mapped_column(String(8), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
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
    manager_turn: Mapped[int] = mapped_column(Integer, default=0)  # round-robin position
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    location: Mapped[Location | None] = relationship()
    order_type = relationship("OrderType")
    managers: Mapped[list[Employee]] = relationship(secondary=store_managers, order_by=Employee.name)

    @property
    def credentials(self) -> dict:
        return json.loads(decrypt(self.credentials_encrypted)) if self.credentials_encrypted else {}

    @credentials.setter
    def credentials(self, values: dict) -> None:
        self.credentials_encrypted = encrypt(json.dumps(values))

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
    FAILED = "failed"     # this order could not be imported; the next run tries again
    ERROR = "error"       # the whole run failed (401, shop unreachable, ...)


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
