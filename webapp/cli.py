"""Operator commands under `flask`: demo data, accounts, platform payload previews, stores,
encryption keys and merging clients (`clients merge-phones`)."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from webapp.extensions import db


def init_app(app: Flask) -> None:
    from webapp.clients_cli import clients
    from webapp.platforms.cli import platforms
    from webapp.secrets_cli import secrets_group
    from webapp.stores_cli import stores

    app.cli.add_command(seed_demo)
    app.cli.add_command(create_admin)
    app.cli.add_command(platforms)
    app.cli.add_command(stores)
    app.cli.add_command(secrets_group)
    app.cli.add_command(clients)


@click.command("seed-demo")
@click.option("--print-login", is_flag=True, help="End with a line `LOGIN <login> <password>`.")
def seed_demo(print_login: bool) -> None:
    """Create demo locations, statuses, order types, employees and orders (idempotent)."""
    from webapp.demo import seed

    password = seed()
    click.echo("Demo data is in place.")
    if print_login:
        click.echo(f"LOGIN admin {password}")


@click.command("create-admin")
@click.argument("login")
@click.option("--name", default="Administrator")
@click.password_option()
def create_admin(login: str, name: str, password: str) -> None:
    """Create an administrator account (for a real installation, instead of the demo)."""
    from webapp.models import Employee, Role

    if db.session.scalar(select(Employee).filter_by(login=login)) is not None:
        raise click.ClickException(f"An employee with the login {login!r} exists already.")
    employee = Employee(login=login, name=name, role=Role.ADMIN, active=True,
                        can_add_without_deduction=True, can_write_off=True)
    employee.set_password(password)
    db.session.add(employee)
    db.session.commit()
    click.echo(f"Administrator {login} created.")
