"""Template filters and globals: money, local times, status colours."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from markupsafe import Markup, escape

from webapp import phones, status_colors

HTMX_VERSION = "2.0.11"
HTMX_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
# sha384 of the file above, the same bytes as package/dist/htmx.min.js in the npm tarball.
HTMX_SRI = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"


def money(value: Decimal | None, currency: str | None = None) -> str:
    amount = Decimal(value or 0).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}".replace(",", "\u202f")
    return f"{text} {currency or current_app.config['CURRENCY']}"


def quantity(value: Decimal | None) -> str:
    text = f"{Decimal(value or 0):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def local_time(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)


def status_badge(status) -> Markup:
    """The status's name on its own colour: a class that /status-colors.css colours (R-SEC-4
    allows no inline style)."""
    return Markup(f'<span class="badge {status_colors.badge_class(status.id)}">{escape(status.name)}</span>')


def url_with(**changes) -> str:
    """The current URL with some query arguments replaced (None removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = value
    from flask import url_for
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def phone(client) -> str:
    """The client's phone in one readable international form (``+49 30 1234567``)."""
    return phones.shown(client.phone, client.phone_raw)


def init_app(app: Flask) -> None:
    status_colors.init_app(app)
    app.jinja_env.filters.update(money=money, quantity=quantity, local_time=local_time, phone=phone)
    app.jinja_env.globals.update(
        status_badge=status_badge, url_with=url_with, HTMX_URL=HTMX_URL, HTMX_SRI=HTMX_SRI,
    )
