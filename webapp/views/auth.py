"""Signing in and out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.forms.auth import LoginForm
from webapp.models import Employee
from webapp.models.staff import password_matches

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign the employee in when the login and password match.
    Failed tries are limited per address and per login (webapp/ratelimit.py)."""
    form = LoginForm()
    if form.validate_on_submit():
        employee = db.session.scalar(select(Employee).where(func.lower(Employee.login) == form.login.data.strip().lower()))
        if not password_matches(employee, form.password.data):
            form.password.errors.append("The login or password is wrong. Check them and try again.")
        elif not employee.active:
            form.login.errors.append("This account is switched off. Ask an administrator to enable it.")
        else:
            login_user(employee, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST, so a link elsewhere cannot sign anyone out) on every device: copies of
    this browser's cookies, and the employee's other sessions, stop working too (R-SEC-2)."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def stay_signed_in(employee: Employee) -> None:
    """After employees end their own sessions (a new password), keep the browser they did it
    from: its cookies are issued again with the new session version."""
    if session.get("_user_id") == employee.get_id():
        return
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(employee, remember=remembered)


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("orders.index")
