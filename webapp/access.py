"""Who may see and change what — enforced on the server, whatever the page shows."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, exists, or_, select

from webapp.extensions import db
from webapp.models import Client, Location, Order


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


# Clients (R-SEC-5). A client belongs to no location; they are seen through their orders. A
# client is visible to an employee who works where at least one of the client's orders is, and,
# while they have no order at all, to everyone (a contact just added by hand, about to get
# their first order, whose phone must stay findable so nobody adds it twice). A client with
# orders at two locations is one person, seen (and edited) from both; each employee's view of
# the client's orders stays limited to their own locations. Administrators see every client.


def _client_visible(allowed: set[int]):
    at_my_location = exists().where(Order.client_id == Client.id, Order.location_id.in_(allowed or {-1}))
    return or_(at_my_location, ~exists().where(Order.client_id == Client.id))


def limit_to_my_clients(query: Select) -> Select:
    """Restrict a clients query to the clients the signed-in employee may see."""
    allowed = current_user.location_ids()
    return query if allowed is None else query.where(_client_visible(allowed))


def may_see_client(client: Client) -> bool:
    allowed = current_user.location_ids()
    if allowed is None:
        return True
    return db.session.scalar(select(Client.id).where(Client.id == client.id, _client_visible(allowed))) is not None


def client_or_404(client_id: int) -> Client:
    """The client, if they exist and the employee may see them; 403 otherwise (without their name)."""
    client = db.get_or_404(Client, client_id, description="There is no such client. They may have been deleted.")
    if not may_see_client(client):
        abort(403, description=(
            "This client's orders are all at locations you have no access to, so their details are not "
            "shown here. Ask an administrator to add the location to yours if you need them."))
    return client
