"""Locations and the employees who work in them, with their role and permissions."""
from __future__ import annotations

from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.types import str_enum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    ENGINEER = "engineer"

    @property
    def label(self) -> str:
        return self.value.capitalize()


employee_locations = Table(
    "employee_locations",
    db.metadata,
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
)


class Location(db.Model):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    address: Mapped[str] = mapped_column(String(255), default="")

    def __repr__(self) -> str:
        return f"<Location {self.name}>"


class Employee(UserMixin, db.Model):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.ENGINEER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # SPEC R-ORD-5: needed to work with orders synchronised from a store.
    can_add_without_deduction: Mapped[bool] = mapped_column(Boolean, default=False)
    can_write_off: Mapped[bool] = mapped_column(Boolean, default=True)
    locations: Mapped[list[Location]] = relationship(secondary=employee_locations, order_by=Location.name)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def location_ids(self) -> set[int] | None:
        """The locations this employee may see; ``None`` means all of them (administrators)."""
        if self.is_admin:
            return None
        return {location.id for location in self.locations}

    def can_access(self, location_id: int) -> bool:
        allowed = self.location_ids()
        return allowed is None or location_id in allowed

    def __repr__(self) -> str:
        return f"<Employee {self.login}>"
