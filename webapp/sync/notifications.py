"""Role in ``sync/``: tell a store's managers of each new imported order (R-ORD-8), in the
importer's transaction, so a rolled-back order leaves no notification behind."""
from __future__ import annotations

from collections.abc import Iterable

from webapp.extensions import db
from webapp.models import Employee, Notification, Order


def notify_managers(order: Order, managers: Iterable[Employee]) -> None:
    for person in managers:
        db.session.add(Notification(employee_id=person.id, order=order))  # an order not flushed yet too
