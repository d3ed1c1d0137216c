"""Template filters and globals: money, local times, status colours."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from markupsafe import Markup, escape

from webapp import phones, status_colors
from webapp.platforms import PLATFORMS

HTMX_VERSION = "2.0.11"
HTMX_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
# sha384 of the file above, the same bytes as package/dist/htmx.min.js in the npm tarball.
HTMX_SRI = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"
# The same file served by the app (committed under static/, no build step): app.js loads it when
# the CDN's did not run (offline, blocked, or a file that failed its hash). tests/integration/
# test_htmx_fallback.py checks it still hashes to HTMX_SRI.
HTMX_FALLBACK = f"vendor/htmx-{HTMX_VERSION}.min.js"


def money(value: Decimal | None, currency: str | None = None) -> str:
    amount = Decimal(value or 0).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}".replace(",", "\u202f")
    return f"{text} {currency or current_app.config['CURRENCY']}"


def quantity(value: Decimal | None) -> str:
    text = f"{Decimal(value or 0):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


UNIT_PLURALS = {"piece": "pieces"}
"""Units are stored in the singular (R-PRD-4 gives imported products "piece"); a unit missing
here (a symbol such as "kg") reads the same in both numbers."""


def in_units(value: Decimal | None, unit: str) -> str:
    """A quantity with its unit in the right number: "1 piece", "0 pieces", "1.5 pieces"."""
    singular = abs(Decimal(value or 0)) == 1
    return f"{quantity(value)} {unit if singular else UNIT_PLURALS.get(unit, unit)}"


def language_name(code: str | None) -> str:
    """A store's language key ("en", "ua", Cartum's own keys) by name, as the wizard offers it;
    a key it does not offer is shown as it is."""
    from webapp.forms.stores import LANGUAGES  # the forms import the platforms; only needed here
    return dict(LANGUAGES).get(code or "", code)


def deleted_store_title(store) -> str:
    """The title of a deleted store's link (R-ORD-2): the store is gone from Orderdock, but the
    shop it linked may still exist, so the link still opens the shop's orders."""
    title = PLATFORMS[store.platform].title if store.platform in PLATFORMS else store.platform
    return (f"This store was deleted in Orderdock on {local_time(store.deleted_at, '%d.%m.%Y')} and no longer "
            f"syncs; the link opens the shop's orders on {title}, if the shop still exists.")


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
    app.jinja_env.filters.update(money=money, quantity=quantity, local_time=local_time, phone=phone,
                                 in_units=in_units, language_name=language_name)
    app.jinja_env.filters["country_name"] = phones.country_name  # R-CLI-5: a store's phone country
    app.jinja_env.globals.update(
        status_badge=status_badge, url_with=url_with, HTMX_URL=HTMX_URL, HTMX_SRI=HTMX_SRI,
        deleted_store_title=deleted_store_title,
        HTMX_FALLBACK=HTMX_FALLBACK,
    )
