"""The statuses' own colours as a small stylesheet, /status-colors.css (R-SEC-4).

The Content-Security-Policy allows no inline style, so a badge cannot carry its colour in a
style attribute: it names its status's class (``status-12``), and this sheet, built from the
statuses table, colours each class. The link carries a version made of the colours, so a page
shows a changed colour at once while browsers keep the sheet cached otherwise.
"""
from __future__ import annotations

import hashlib
import re

from flask import Flask, Response, request, url_for
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Status

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
FALLBACK = "#64748b"  # a colour that is not #rrggbb (never saved by the form) reads as grey


def badge_class(status_id: int) -> str:
    return f"status-{status_id}"


def text_color(background: str) -> str:
    """Black or white, whichever reads better on the status colour."""
    try:
        red, green, blue = (int(background.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#fff"
    return "#111" if (red * 299 + green * 587 + blue * 114) / 1000 > 150 else "#fff"


def _colors() -> list[tuple[int, str]]:
    rows = db.session.execute(select(Status.id, Status.color).order_by(Status.id)).all()
    return [(status_id, color if color and HEX_COLOR.fullmatch(color) else FALLBACK) for status_id, color in rows]


def stylesheet_url() -> str:
    """The sheet's URL, versioned by the colours it holds."""
    version = hashlib.sha256(repr(_colors()).encode()).hexdigest()[:12]
    return url_for("status_colors", v=version)


def stylesheet() -> Response:
    css = "\n".join(f".badge.{badge_class(status_id)} {{ background: {color}; color: {text_color(color)}; }}"
                    for status_id, color in _colors())
    response = Response(css + "\n", mimetype="text/css")
    if request.args.get("v"):
        response.cache_control.private = True
        response.cache_control.max_age = 365 * 24 * 3600  # a new colour is a new URL
    else:
        response.cache_control.no_cache = True
    return response


def init_app(app: Flask) -> None:
    app.add_url_rule("/status-colors.css", "status_colors", stylesheet)
    app.jinja_env.globals.update(status_colors_url=stylesheet_url)
