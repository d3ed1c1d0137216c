"""In-app notifications: a new imported order for each of its store's managers (R-ORD-8)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class Notification(db.Model):
    """One employee told of one order; read when they open it from the list."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("employee_id", "order_id"),  # an order is news once per person
        Index("ix_notifications_unread", "employee_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order = relationship("Order")
