"""Small builders for test data: each makes one row with sensible defaults, committed."""
from __future__ import annotations

from decimal import Decimal
from itertools import count

from flask import current_app

from webapp.extensions import db
from webapp.models import Client, Employee, Location, Order, OrderType, Product, Role, Status, StatusGroup
from webapp.phones import to_e164

PASSWORD = "correct horse battery"
_seq = count(1)


def add(row):
    db.session.add(row)
    db.session.commit()
    return row


def location(name: str | None = None) -> Location:
    return add(Location(name=name or f"Location {next(_seq)}", address=""))


def status(name: str | None = None, group: StatusGroup = StatusGroup.NEW, color: str = "#2563eb") -> Status:
    return add(Status(name=name or f"Status {next(_seq)}", group=group, color=color))


def order_type(initial: Status, name: str | None = None) -> OrderType:
    return add(OrderType(name=name or f"Type {next(_seq)}", initial_status=initial))


def employee(login: str | None = None, role: Role = Role.ADMIN, locations=(), **flags) -> Employee:
    person = Employee(login=login or f"user{next(_seq)}", name=(login or "Test").title() + " Person", role=role,
                      active=flags.pop("active", True), locations=list(locations),
                      can_add_without_deduction=flags.pop("can_add_without_deduction", True),
                      can_write_off=flags.pop("can_write_off", True))
    person.set_password(PASSWORD)
    return add(person)


def client(first: str = "Anna", last: str = "Schmidt", phone: str = "", email: str | None = None) -> Client:
    return add(Client(first_name=first, last_name=last, phone_raw=phone,
                      phone=to_e164(phone, current_app.config["PHONE_REGION"]), email=email))


def product(name: str = "Display", stock: str = "5", sku: str | None = None) -> Product:
    return add(Product(name=name, stock=Decimal(stock), sku=sku))


def order(where: Location, kind: OrderType, buyer: Client, state: Status | None = None, **fields) -> Order:
    made = Order(number=Order.next_number(), location=where, order_type=kind, status=state or kind.initial_status,
                 client=buyer, currency=current_app.config["CURRENCY"], **fields)
    return add(made)
