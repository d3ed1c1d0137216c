"""R-SEC-2: a session ends for good, and its cookies carry the flags that keep them to this site.

Each test copies an employee's cookies into a second client (what a thief with a copied cookie
has), then ends the session the way the rule names (signing out, a password change,
deactivation, "Sign out everywhere") and replays the copy. Choices where the rule leaves room:
signing out ends the employee's sessions on every device, not just this browser; whoever
changes their own password stays signed in in the browser they changed it from.
"""
from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select

from tests.integration.conftest import csrf_token, post, sign_in
from tests.support import factories
from webapp import create_app
from webapp.extensions import db
from webapp.models import Employee, Role


def fresh() -> None:
    """The fixture's app context outlives requests, so Flask-Login's user cached in ``g`` would
    pass from one client to the next; drop it, so each request loads its user from its own cookies."""
    g.pop("_login_user", None)


def gets_in(client, url: str = "/orders/") -> bool:
    fresh()
    response = client.get(url)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def signed_in_client(app, login: str, remember: bool = False):
    client = app.test_client()
    fresh()
    token = csrf_token(client)
    data = {"login": login, "password": factories.PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_of(app, source, *names: str):
    """A new client holding only the named cookies of ``source``."""
    thief = app.test_client()
    for name in names:
        cookie = source.get_cookie(name)
        assert cookie is not None, f"no {name} cookie to copy"
        thief.set_cookie(name, cookie.value)
    return thief


def as_admin(app):
    admin = app.test_client()
    fresh()
    sign_in(admin, "admin")
    return admin


def employee_form(person: Employee, **changes) -> dict:
    data = {"name": person.name, "login": person.login, "role": person.role.value, "active": "y",
            "location_ids": [loc.id for loc in person.locations]}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_R_SEC_2_session_cookie_copied_before_sign_out_is_refused_after_it(app, world):
    """A session cookie copied while signed in opens nothing once its owner has signed out."""
    factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    maria = signed_in_client(app, "maria")
    stolen = copy_of(app, maria, "session")
    assert gets_in(stolen), "the copy works while the session lives (else the test proves nothing)"

    fresh()
    assert post(maria, "/logout", page="/orders/").status_code == 302
    assert not gets_in(stolen)
    assert not gets_in(maria)


def test_R_SEC_2_remember_cookie_alone_is_refused_after_sign_out(app, world):
    """The "Keep me signed in" cookie, replayed on its own (no session cookie), opens nothing
    once its owner has signed out, although it would otherwise live for a year."""
    factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    maria = signed_in_client(app, "maria", remember=True)
    assert gets_in(copy_of(app, maria, "remember_token")), "the remember cookie alone signs in"
    stolen = copy_of(app, maria, "remember_token")

    fresh()
    post(maria, "/logout", page="/orders/")
    assert not gets_in(stolen)


def test_R_SEC_2_signing_out_ends_the_employees_other_sessions_too(app, world):
    """Our choice: signing out in one browser ends that employee's sessions everywhere."""
    factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    laptop = signed_in_client(app, "maria")
    phone = signed_in_client(app, "maria", remember=True)

    fresh()
    post(phone, "/logout", page="/orders/")
    assert not gets_in(laptop)


def test_R_SEC_2_a_password_change_ends_every_session_of_that_employee(app, world):
    """An administrator sets a new password for Maria: her session and remember cookies die."""
    person = factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    maria = signed_in_client(app, "maria", remember=True)
    session_copy = copy_of(app, maria, "session")
    remember_copy = copy_of(app, maria, "remember_token")

    admin = as_admin(app)
    fresh()
    response = post(admin, f"/settings/employees/{person.id}", employee_form(person, password="brand-new-pass"))
    assert response.status_code == 302
    assert not gets_in(session_copy)
    assert not gets_in(remember_copy)
    assert not gets_in(maria)


def test_R_SEC_2_changing_your_own_password_keeps_this_browser_only(app, world):
    """The administrator who changes their own password stays signed in where they did it;
    a copy of their cookie taken before the change is refused."""
    admin = as_admin(app)
    before = copy_of(app, admin, "session")

    fresh()
    response = post(admin, f"/settings/employees/{world.admin.id}",
                    employee_form(world.admin, password="another-long-pass"))
    assert response.status_code == 302
    assert gets_in(admin)
    assert not gets_in(before)


def test_R_SEC_2_deactivation_ends_every_session_of_that_employee(app, world):
    """Switching an account off signs it out at once, remember cookie included."""
    person = factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    maria = signed_in_client(app, "maria", remember=True)
    remember_copy = copy_of(app, maria, "remember_token")

    admin = as_admin(app)
    fresh()
    response = post(admin, f"/settings/employees/{person.id}", employee_form(person, active=None))
    assert response.status_code == 302
    assert not gets_in(maria)
    assert not gets_in(remember_copy)
    # Switched on again, the old cookies stay dead: only a new sign-in opens a session.
    fresh()
    post(admin, f"/settings/employees/{person.id}", employee_form(person))
    assert db.session.get(Employee, person.id).active
    assert not gets_in(maria)


def test_R_SEC_2_sign_out_everywhere_on_the_employees_page(app, world):
    """The employee's page has "Sign out everywhere"; it ends every session and remember cookie
    of that employee and says so, and leaves the administrator signed in."""
    person = factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    maria = signed_in_client(app, "maria", remember=True)
    remember_copy = copy_of(app, maria, "remember_token")

    admin = as_admin(app)
    fresh()
    page = admin.get(f"/settings/employees/{person.id}").get_data(as_text=True)
    assert "Sign out everywhere" in page
    fresh()
    response = post(admin, f"/settings/employees/{person.id}/sign-out", page=f"/settings/employees/{person.id}",
                    follow_redirects=True)
    assert response.status_code == 200
    assert "Maria Person is signed out everywhere" in response.get_data(as_text=True)
    assert not gets_in(maria)
    assert not gets_in(remember_copy)
    assert gets_in(admin)
    assert db.session.scalar(select(Employee).filter_by(login="maria")).check_password(factories.PASSWORD)


def test_R_SEC_2_sign_out_everywhere_on_your_own_page_signs_you_out_here_too(app, world):
    """An administrator ending their own sessions is signed out in this browser as well, and told so."""
    admin = as_admin(app)
    laptop = copy_of(app, admin, "session")
    fresh()
    response = post(admin, f"/settings/employees/{world.admin.id}/sign-out",
                    page=f"/settings/employees/{world.admin.id}", follow_redirects=True)
    assert "You are signed out everywhere" in response.get_data(as_text=True)
    assert response.request.path == "/login"
    assert not gets_in(admin)
    assert not gets_in(laptop)


def test_R_SEC_2_only_administrators_may_sign_others_out(app, world):
    """A manager or engineer posting to "Sign out everywhere" gets 403, and nobody is signed out."""
    person = factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    factories.employee("erik", role=Role.ENGINEER, locations=[world.main])
    erik = signed_in_client(app, "erik")
    maria = signed_in_client(app, "maria")
    fresh()
    response = post(erik, f"/settings/employees/{person.id}/sign-out", page="/orders/")
    assert response.status_code == 403
    assert gets_in(maria)
    assert gets_in(erik)


@pytest.fixture
def secure_app(database_url, redis_url, tmp_path, monkeypatch, world):
    """The app as a VPS behind TLS runs it: SESSION_COOKIE_SECURE=1 in the environment."""
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret",
                       "INSTANCE_PATH": str(tmp_path / "secure-instance"), "TESTING": True})


def test_R_SEC_2_both_cookies_are_secure_httponly_and_samesite_behind_tls(secure_app):
    """With SESSION_COOKIE_SECURE on, the remember cookie carries the session cookie's flags:
    Secure, HttpOnly and SameSite=Lax."""
    client = secure_app.test_client()
    with secure_app.app_context():
        token = csrf_token(client)
        response = client.post("/login", data={"login": "admin", "password": factories.PASSWORD,
                                               "remember": "y", "csrf_token": token})
        db.session.remove()
    assert response.status_code == 302
    cookies = {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}
    assert set(cookies) >= {"session", "remember_token"}, cookies
    for name in ("session", "remember_token"):
        flags = [part.strip().lower() for part in cookies[name].split(";")]
        assert "secure" in flags, cookies[name]
        assert "httponly" in flags, cookies[name]
        assert "samesite=lax" in flags, cookies[name]
