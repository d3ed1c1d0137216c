"""Who may see and change what — enforced on the server, whatever the page shows."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import Select

from webapp.extensions import db
from webapp.models import Location, Order


def limit_to_my_locations(query: Select) -> Select:
    """Restrict an orders query to the locations the signed-in employee may access."""
    allowed = current_user.location_ids()
    return query if allowed is None else query.where(Order.location_id.in_(allowed or {-1}))


def my_locations() -> list[Location]:
    allowed = current_user.location_ids()
    query = db.select(Location).order_by(Location.name)
    if allowed is not None:
        query = query.where(Location.id.in_(allowed or {-1}))
    return list(db.session.scalars(query))


def order_or_404(order_id: int) -> Order:
    """The order, if it exists and the employee may see its location; 403 otherwise."""
    order = db.get_or_404(Order, order_id, description="There is no such order. It may have been deleted.")
    if not current_user.can_access(order.location_id):
        abort(403, description=(
            f"Order {order.number} belongs to {order.location.name}, a location you have no access to. "
            "Ask an administrator to add it to your locations."
        ))
    return order


def order_to_change(order_id: int) -> Order:
    """``order_or_404``, and R-ORD-5: an imported order changes only for employees with
    "Can add products without deduction" (and administrators); others see it read-only."""
    order = order_or_404(order_id)
    if not may_change(order):
        abort(403, description=(
            f"Order {order.number} came from a connected store. Changing imported orders needs the "
            "permission \"Can add products without deduction\"; ask an administrator for it."
        ))
    return order


def may_change(order: Order) -> bool:
    return order.store_id is None or current_user.is_admin or current_user.can_add_without_deduction
