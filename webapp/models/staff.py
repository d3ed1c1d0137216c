"""Locations and the employees who work in them, with their role and permissions."""
from __future__ import annotations

import secrets
from enum import StrEnum
from functools import cache

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
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
    # R-SEC-2: part of the id that the session and remember-me cookies carry; raising it makes
    # every cookie issued before worthless, so a session the server ends stays ended.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def set_password(self, password: str) -> None:
        """A new password ends every session of the employee (R-SEC-2), whoever sets it."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def end_sessions(self) -> None:
        """Sign the employee out everywhere: session and remember-me cookies issued so far stop working."""
        self.session_version = (self.session_version or 0) + 1

    @validates("active")
    def _switching_off_ends_sessions(self, _key: str, active: bool) -> bool:
        """Deactivation ends every session at once, and switching back on does not revive them."""
        if not active and self.active:
            self.end_sessions()
        return active

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and remember-me cookies: employee and session version."""
        return f"{self.id}:{self.session_version or 0}"

    @classmethod
    def for_session(cls, session_id: str) -> Employee | None:
        """The employee a cookie's id names, if that session was not ended and the account is on."""
        employee_id, _, version = session_id.partition(":")
        if not (employee_id.isdecimal() and version.isdecimal()):
            return None  # a cookie from before session versions, or a forged one
        employee = db.session.get(cls, int(employee_id))
        if employee is None or not employee.active or (employee.session_version or 0) != int(version):
            return None
        return employee

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


def password_matches(employee: Employee | None, password: str) -> bool:
    """Check a sign-in's password. For an unknown login a throwaway hash is checked all the same,
    so the answer takes as long and timing cannot tell which logins exist (R-SEC-3)."""
    if employee is None:
        check_password_hash(_unknown_login_hash(), password)
        return False
    return employee.check_password(password)


@cache
def _unknown_login_hash() -> str:
    """Made once per process with the same method and cost as every employee's hash."""
    return generate_password_hash(secrets.token_urlsafe(16))
