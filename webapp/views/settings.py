"""Settings, for administrators: locations, statuses, order types and employees."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.forms.settings import EmployeeForm, LocationForm, OrderTypeForm, StatusForm
from webapp.models import Employee, Location, OrderType, Role, Status
from webapp.views.auth import stay_signed_in

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.before_request
def only_administrators():
    """Settings are refused to everyone but administrators, whatever link they followed."""
    if not current_user.is_admin:
        abort(403, description="Only an administrator can change settings. Ask one of them for help.")


@dataclass(frozen=True)
class Area:
    model: type
    form: type
    title: str
    noun: str
    order_by: tuple


AREAS = {
    "locations": Area(Location, LocationForm, "Locations", "location", (Location.name,)),
    "statuses": Area(Status, StatusForm, "Statuses", "status", (Status.position, Status.name)),
    "order-types": Area(OrderType, OrderTypeForm, "Order types", "order type", (OrderType.name,)),
}


@bp.get("/")
def index():
    return redirect(url_for("settings.area", area="locations"))


@bp.route("/<any(locations, statuses, 'order-types'):area>", methods=["GET", "POST"])
def area(area: str):
    """List one kind of setting, with a form to add one more."""
    spec = AREAS[area]
    form = _form(spec)
    if form.validate_on_submit() and _name_is_free(spec, form):
        row = spec.model()
        form.populate_obj(row)
        db.session.add(row)
        db.session.commit()
        flash(f"{spec.noun.capitalize()} {row.name} added.", "success")
        return redirect(url_for("settings.area", area=area))
    rows = db.session.scalars(select(spec.model).order_by(*spec.order_by)).all()
    return render_template("settings/area.html", area=area, spec=spec, rows=rows, form=form)


@bp.route("/<any(locations, statuses, 'order-types'):area>/<int:row_id>", methods=["GET", "POST"])
def edit(area: str, row_id: int):
    """Rename or change one setting."""
    spec = AREAS[area]
    row = db.get_or_404(spec.model, row_id, description=f"There is no such {spec.noun}. It may have been deleted.")
    form = _form(spec, obj=row)
    if form.validate_on_submit() and _name_is_free(spec, form, row):
        form.populate_obj(row)
        db.session.commit()
        flash(f"{spec.noun.capitalize()} {row.name} saved.", "success")
        return redirect(url_for("settings.area", area=area))
    return render_template("settings/edit.html", area=area, spec=spec, row=row, form=form)


def _form(spec: Area, obj=None):
    form = spec.form(obj=obj)
    if spec.model is OrderType:
        form.initial_status_id.choices = [(s.id, s.name) for s in db.session.scalars(select(Status).order_by(Status.position))]
    return form


def _name_is_free(spec: Area, form, current=None) -> bool:
    name = form.name.data.strip()
    twin = db.session.scalar(select(spec.model).where(func.lower(spec.model.name) == name.lower()))
    if twin is not None and twin is not current:
        form.name.errors.append(f"There is already a {spec.noun} called {twin.name}. Choose another name.")
        return False
    form.name.data = name
    return True


@bp.get("/employees")
def employees():
    """Every employee with their role, locations and permissions."""
    rows = db.session.scalars(select(Employee).order_by(Employee.active.desc(), Employee.name)).all()
    return render_template("settings/employees.html", rows=rows)


@bp.route("/employees/new", methods=["GET", "POST"])
def new_employee():
    """Add an employee (a password is required for a new account)."""
    return _employee_form(Employee(active=True, role=Role.ENGINEER, can_write_off=True), is_new=True)


@bp.route("/employees/<int:employee_id>", methods=["GET", "POST"])
def edit_employee(employee_id: int):
    """Change an employee's role, locations, permissions or password."""
    return _employee_form(db.get_or_404(Employee, employee_id, description="There is no such employee."), is_new=False)


def _employee_form(employee: Employee, is_new: bool):
    form = EmployeeForm(obj=employee)
    form.location_ids.choices = [(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))]
    if not form.is_submitted():
        form.location_ids.data = [loc.id for loc in employee.locations]
    if form.validate_on_submit() and _employee_is_valid(form, employee, is_new):
        _fill_employee(employee, form)  # a new password or switching off ends their sessions (R-SEC-2)
        if is_new:
            db.session.add(employee)
        db.session.commit()
        if employee.id == current_user.id:
            stay_signed_in(employee)
        flash(f"Employee {employee.name} saved.", "success")
        return redirect(url_for("settings.employees"))
    return render_template("settings/employee.html", form=form, employee=employee, is_new=is_new)


@bp.post("/employees/<int:employee_id>/sign-out")
def end_employee_sessions(employee_id: int):
    """Sign one employee out on every device, remember-me cookies included (R-SEC-2)."""
    employee = db.get_or_404(Employee, employee_id, description="There is no such employee.")
    employee.end_sessions()
    db.session.commit()
    if employee.id == current_user.id:
        logout_user()
        flash("You are signed out everywhere, this browser included. Sign in again to go on.", "info")
        return redirect(url_for("auth.login"))
    flash(f"{employee.name} is signed out everywhere: every browser and device has to sign in again "
          "with the password.", "success")
    return redirect(url_for("settings.edit_employee", employee_id=employee.id))


def _employee_is_valid(form: EmployeeForm, employee: Employee, is_new: bool) -> bool:
    twin = db.session.scalar(select(Employee).where(func.lower(Employee.login) == form.login.data.strip().lower()))
    if twin is not None and twin is not employee:
        form.login.errors.append("This login is taken. Choose another one.")
    if is_new and not form.password.data:
        form.password.errors.append("Set a password for the new account (at least 8 characters).")
    if employee.id == current_user.id and (form.role.data != Role.ADMIN or not form.active.data):
        form.role.errors.append("You cannot remove your own administrator rights or switch yourself off.")
    return not (form.login.errors or form.password.errors or form.role.errors)


def _fill_employee(employee: Employee, form: EmployeeForm) -> None:
    employee.name = form.name.data.strip()
    employee.login = form.login.data.strip()
    employee.role = Role(form.role.data)
    employee.active = form.active.data
    employee.can_add_without_deduction = form.can_add_without_deduction.data
    employee.can_write_off = form.can_write_off.data
    employee.locations = list(db.session.scalars(select(Location).where(Location.id.in_(form.location_ids.data or []))))
    if form.password.data:
        employee.set_password(form.password.data)
