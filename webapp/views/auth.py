"""Signing in and out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.forms.auth import LoginForm
from webapp.models import Employee

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign the employee in when the login and password match."""
    form = LoginForm()
    if form.validate_on_submit():
        employee = db.session.scalar(select(Employee).where(func.lower(Employee.login) == form.login.data.strip().lower()))
        if employee is None or not employee.check_password(form.password.data):
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
    """Sign out (a POST, so a link elsewhere cannot sign anyone out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("orders.index")
