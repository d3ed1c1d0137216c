"""Notifications of new imported orders (R-ORD-8): the counter in the page header, which
updates itself, the list, and opening an order from it (which marks it read)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from webapp.access import limit_to_my_locations
from webapp.extensions import db
from webapp.models import Notification, Order
from webapp.models.types import utcnow

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
LIST_SIZE = 50


def _mine(query):
    """Notifications of the signed-in employee about orders they may still see (R-SEC-5: a
    manager who lost a location is not shown its orders through old notifications)."""
    return limit_to_my_locations(query.join(Notification.order).where(Notification.employee_id == current_user.id))


def unread_count() -> int:
    return db.session.scalar(_mine(select(func.count(Notification.id))).where(Notification.read_at.is_(None))) or 0


def mark_read(order_id: int) -> None:
    """The signed-in employee has seen this order: its notification is read (committed by the caller)."""
    db.session.execute(update(Notification).where(
        Notification.employee_id == current_user.id, Notification.order_id == order_id,
        Notification.read_at.is_(None)).values(read_at=utcnow()))


@bp.get("/count")
def count():
    """The header's counter; polled, so new orders show up without a reload."""
    return render_template("notifications/_counter.html", unread=unread_count())


@bp.get("/")
def index():
    """The employee's notifications, unread first, then the latest read ones."""
    rows = db.session.scalars(
        _mine(select(Notification))
        .options(joinedload(Notification.order).joinedload(Order.store), joinedload(Notification.order).joinedload(Order.client))
        .order_by(Notification.read_at.is_not(None), Notification.id.desc()).limit(LIST_SIZE)).all()
    return render_template("notifications/index.html", rows=rows, unread=unread_count())


@bp.get("/<int:notification_id>")
def open_order(notification_id: int):
    """Open the order a notification is about; the notification is read from now on."""
    row = db.first_or_404(select(Notification).where(Notification.id == notification_id,
                                                     Notification.employee_id == current_user.id),
                          description="There is no such notification of yours. Open the list of notifications again.")
    mark_read(row.order_id)
    db.session.commit()
    return redirect(url_for("orders.detail", order_id=row.order_id))
