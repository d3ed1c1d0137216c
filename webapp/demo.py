"""Demo data for `make run`: a back office someone can click through a minute after cloning.

Idempotent: seeding twice changes nothing. The demo password is random, generated once into
``instance/demo-password`` (never a constant in code) and printed by `make run`.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Category,
    Client,
    Employee,
    FeedKind,
    Location,
    Order,
    OrderType,
    Product,
    Role,
    Status,
    StatusGroup,
)
from webapp.models.types import utcnow
from webapp.phones import to_e164

STATUSES = [  # name, colour, group
    ("New", "#2563eb", StatusGroup.NEW),
    ("In progress", "#16a34a", StatusGroup.IN_PROGRESS),
    ("Waiting for parts", "#f59e0b", StatusGroup.PENDING),
    ("Waiting for the client", "#fb923c", StatusGroup.PENDING),
    ("Handed to courier", "#38bdf8", StatusGroup.DELIVERY),
    ("Ready", "#8b5cf6", StatusGroup.COMPLETED),
    ("Closed", "#15803d", StatusGroup.CLOSED_SUCCESS),
    ("Cancelled", "#6b7280", StatusGroup.CLOSED_FAIL),
]
LOCATIONS = [("Main workshop", "Hauptstraße 1, Berlin"), ("City shop", "Alexanderplatz 5, Berlin")]
ORDER_TYPES = [("Repair", "New"), ("Online order", "New"), ("Sale", "In progress")]
EMPLOYEES = [  # login, name, role, locations, can add without deduction
    ("admin", "Alex Admin", Role.ADMIN, ["Main workshop", "City shop"], True),
    ("maria", "Maria Manager", Role.MANAGER, ["Main workshop", "City shop"], True),
    ("erik", "Erik Engineer", Role.ENGINEER, ["Main workshop"], False),
]
PRODUCTS = [  # name, sku, category, stock
    ("iPhone 13 display", "DSP-IP13", "Displays", "4"),
    ("Galaxy S21 battery", "BAT-S21", "Batteries", "10"),
    ("USB-C charging port", "PRT-USBC", "Connectors", "25"),
    ("Screen protector", "ACC-GLASS", "Accessories", "60"),
]
CLIENTS = [  # first, last, phone as typed, e-mail
    ("Anna", "Schmidt", "+49 30 1234567", "anna@example.com"),
    ("Jonas", "Weber", "0151 23456789", ""),
    ("Olena", "Kovalenko", "+380 67 123-45-67", "olena@example.com"),
    ("Lukas", "Becker", "030 7654321", "lukas@example.com"),
]


def seed() -> str:
    """Create what is missing and return the demo password."""
    statuses = {name: _get_or_add(Status, name=name, color=color, group=group, position=i)
                for i, (name, color, group) in enumerate(STATUSES)}
    locations = {name: _get_or_add(Location, name=name, address=address) for name, address in LOCATIONS}
    for name, initial in ORDER_TYPES:
        _get_or_add(OrderType, name=name, initial_status=statuses[initial])
    password = demo_password()
    for login, name, role, where, no_deduction in EMPLOYEES:
        if db.session.scalar(select(Employee).filter_by(login=login)) is None:
            employee = Employee(login=login, name=name, role=role, locations=[locations[w] for w in where],
                                can_add_without_deduction=no_deduction, can_write_off=True, active=True)
            employee.set_password(password)
            db.session.add(employee)
    db.session.flush()
    if db.session.scalar(select(Order).limit(1)) is None:
        _seed_orders(statuses, locations)
    db.session.commit()
    return password


def demo_password() -> str:
    path = Path(current_app.instance_path) / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def _get_or_add(model, name: str, **fields):
    row = db.session.scalar(select(model).filter_by(name=name))
    if row is None:
        row = model(name=name, **fields)
        db.session.add(row)
        db.session.flush()
    return row


def _seed_orders(statuses: dict, locations: dict) -> None:
    products = [_product(*spec) for spec in PRODUCTS]
    region = current_app.config["PHONE_REGION"]
    clients = [Client(first_name=f, last_name=l, phone_raw=p, phone=to_e164(p, region), email=e or None)
               for f, l, p, e in CLIENTS]
    db.session.add_all(clients)
    manager = db.session.scalar(select(Employee).filter_by(login="maria"))
    repair = db.session.scalar(select(OrderType).filter_by(name="Repair"))
    plan = ["New", "In progress", "Waiting for parts", "Ready", "New", "Closed", "In progress", "Cancelled"]
    for i, status_name in enumerate(plan):
        order = Order(number=Order.next_number(), location=list(locations.values())[i % 2], order_type=repair,
                      status=statuses[status_name], client=clients[i % len(clients)], manager=manager,
                      currency=current_app.config["CURRENCY"], created_at=utcnow() - timedelta(days=3 * i, hours=i))
        db.session.add(order)
        product = products[i % len(products)]
        order.add_item(product.name, Decimal(1 + i % 2), Decimal("49.90") + 10 * i, product)
        order.add_item("Diagnostics and labour", Decimal("1"), Decimal("35.00"))
        order.note(FeedKind.COMMENT, "Client asked to be called before the repair starts.", manager)


def _product(name: str, sku: str, category: str, stock: str) -> Product:
    product = Product(name=name, sku=sku, category=_get_or_add(Category, name=category), stock=Decimal(stock),
                      description=f"{name} — spare part.")
    db.session.add(product)
    return product
