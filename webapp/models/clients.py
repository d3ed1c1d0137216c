"""Clients (the back office's contacts), with phones kept as typed and normalized to E.164."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from webapp.models.orders import Order

NOT_SPECIFIED = "not_specified"


class Client(db.Model):
    __tablename__ = "clients"
    # The orders table's text search (issue 13): a trigram index on PostgreSQL (migration 0008).
    __table_args__ = (Index("ix_clients_search_text", "search_text", postgresql_using="gin",
                            postgresql_ops={"search_text": "gin_trgm_ops"}),)
    __mapper_args__ = {"eager_defaults": False}  # the database fills search_text; not read back

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    phone_raw: Mapped[str] = mapped_column(String(64), default="")
    # E.164, None when unreadable. Unique: one phone is one client (R-CLI-2), also under concurrent imports.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-cased
    address: Mapped[str] = mapped_column(String(500), default="")
    # An employee changed the name by hand: a later sync keeps it (pitfalls #12).
    name_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    # "not_specified" marks the single client used for orders whose buyer is unknown.
    system_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the orders table's text search looks in on the client: "first last" and e-mail, each
    # ended by SEARCH_FIELD, then SEARCH_PHONE and the phone (models/orders.py). The database keeps
    # it, with triggers (migration 0008), whatever writes clients: nothing sets it here.
    search_text: Mapped[str] = mapped_column(Text, server_default="", deferred=True)

    orders: Mapped[list[Order]] = relationship(back_populates="client")

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or "—"

    @property
    def is_not_specified(self) -> bool:
        return self.system_key == NOT_SPECIFIED

    @staticmethod
    def not_specified() -> Client:
        """The one "Not specified" client, created on first use."""
        client = db.session.scalar(select(Client).filter_by(system_key=NOT_SPECIFIED))
        if client is None:
            client = Client(first_name="Not specified", system_key=NOT_SPECIFIED)
            db.session.add(client)
            db.session.flush()
        return client
