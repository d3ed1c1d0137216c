"""Static files cached for a year under versioned URLs (issue 13).

``url_for('static', filename=…)`` gives ``/static/app.css?v=<hash of the file>``: the page names
the file's content, so a browser keeps it for a year without asking again (``immutable``), and a
changed file is a new URL that it fetches at once. The same address without ``v``, or with a
``v`` that is not the file's (a page from before a deploy), is answered as before: revalidated
at each use (``no-cache``, ETag). The vendored htmx is named by its version already
(``vendor/htmx-<version>.min.js``, whose bytes tests/integration/test_htmx_fallback.py pins to
its SRI hash), so its plain address is cached for a year too, and stays the address app.js loads.
``/status-colors.css`` carries its own version (status_colors.py); it is marked immutable here.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

from webapp.templating import HTMX_FALLBACK

YEAR = 365 * 24 * 3600
NAMED_BY_VERSION = {HTMX_FALLBACK}


def version(filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256; None for a file that is not there."""
    path = safe_join(current_app.static_folder, filename)
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return _hash(path, stat.st_mtime_ns, stat.st_size) if stat else None


@lru_cache(maxsize=64)
def _hash(path: str, _mtime_ns: int, _size: int) -> str:  # a changed file has another key
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:12]


def _versioned_url(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "v" not in values and values.get("filename") not in NAMED_BY_VERSION:
        found = version(values.get("filename", ""))
        if found:
            values["v"] = found


def _cache_for_long(response: Response) -> Response:
    if response.status_code not in (200, 304):
        return response
    if request.endpoint == "static":
        filename = (request.view_args or {}).get("filename", "")
        asked = request.args.get("v")
        if filename in NAMED_BY_VERSION or (asked and asked == version(filename)):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.immutable = True
    elif request.endpoint == "status_colors" and request.args.get("v"):
        response.cache_control.immutable = True
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(_versioned_url)
    app.after_request(_cache_for_long)
