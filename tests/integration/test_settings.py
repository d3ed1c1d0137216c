"""Settings pages: locations, statuses, order types and employees with their permissions."""
from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.models import Employee, Location, OrderType, Role, Status, StatusGroup


def test_add_and_rename_a_location(client, world):
    sign_in(client, "admin")
    post(client, "/settings/locations", {"name": "Airport kiosk", "address": "Terminal 1"})
    kiosk = db.session.scalar(select(Location).filter_by(name="Airport kiosk"))
    post(client, f"/settings/locations/{kiosk.id}", {"name": "Airport shop", "address": "T1"})
    db.session.refresh(kiosk)
    assert (kiosk.name, kiosk.address) == ("Airport shop", "T1")


def test_duplicate_names_are_refused_with_a_message(client, world):
    sign_in(client, "admin")
    response = post(client, "/settings/locations", {"name": "main workshop"})
    assert "There is already a location called Main workshop" in response.get_data(as_text=True)
    assert db.session.query(Location).count() == 2


def test_add_a_status_with_its_group_and_colour(client, world):
    sign_in(client, "admin")
    post(client, "/settings/statuses", {"name": "Waiting for parts", "group": "pending", "color": "#f59e0b",
                                        "position": "3"})
    status = db.session.scalar(select(Status).filter_by(name="Waiting for parts"))
    assert (status.group, status.color, status.position) == (StatusGroup.PENDING, "#f59e0b", 3)


def test_a_bad_colour_is_refused(client, world):
    sign_in(client, "admin")
    response = post(client, "/settings/statuses", {"name": "Odd", "group": "new", "color": "red"})
    assert "Pick a colour" in response.get_data(as_text=True)


def test_order_type_has_an_initial_status(client, world):
    sign_in(client, "admin")
    post(client, "/settings/order-types", {"name": "Sale", "initial_status_id": world.progress.id})
    assert db.session.scalar(select(OrderType).filter_by(name="Sale")).initial_status == world.progress


def test_create_an_engineer_with_locations_and_permissions(client, world):
    sign_in(client, "admin")
    response = post(client, "/settings/employees/new", {
        "name": "Erik Engineer", "login": "erik", "password": "s3cret-pass", "role": "engineer", "active": "y",
        "location_ids": [world.branch.id], "can_add_without_deduction": "y"})
    assert response.status_code == 302
    erik = db.session.scalar(select(Employee).filter_by(login="erik"))
    assert erik.role == Role.ENGINEER and [loc.name for loc in erik.locations] == ["City shop"]
    assert erik.can_add_without_deduction and not erik.can_write_off
    assert erik.check_password("s3cret-pass") and "s3cret-pass" not in erik.password_hash


def test_new_employee_needs_a_password_and_a_free_login(client, world):
    sign_in(client, "admin")
    html = post(client, "/settings/employees/new", {"name": "Twin", "login": "ADMIN", "role": "manager"}).get_data(as_text=True)
    assert "This login is taken" in html and "Set a password" in html


def test_editing_keeps_the_password_when_left_empty(client, world):
    maria = factories.employee("maria", role=Role.MANAGER)
    sign_in(client, "admin")
    post(client, f"/settings/employees/{maria.id}", {"name": "Maria M", "login": "maria", "role": "manager",
                                                     "active": "y"})
    db.session.refresh(maria)
    assert maria.name == "Maria M" and maria.check_password(factories.PASSWORD)


def test_admin_cannot_lock_themselves_out(client, world):
    sign_in(client, "admin")
    html = post(client, f"/settings/employees/{world.admin.id}", {"name": "A", "login": "admin",
                                                                  "role": "engineer"}).get_data(as_text=True)
    assert "You cannot remove your own administrator rights" in html
    db.session.refresh(world.admin)
    assert world.admin.role == Role.ADMIN and world.admin.active
