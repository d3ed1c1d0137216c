"""Issue 12: htmx comes from its CDN (checked by its SRI hash) and, when that did not load, from
the same pinned file the app serves itself (``static/vendor/``, committed, no build step). These
tests keep the two from drifting apart: a new HTMX_VERSION needs the new file and its hash."""
from __future__ import annotations

import base64
import hashlib
import re
from html import unescape
from pathlib import Path

from tests.integration.test_R_SEC_4_headers import assert_security_headers
from webapp.templating import HTMX_FALLBACK, HTMX_SRI, HTMX_URL, HTMX_VERSION

STATIC = Path(__file__).resolve().parents[2] / "webapp" / "static"
HTMX_TAG = re.compile(r"<script\b[^>]*\bsrc=\"" + re.escape(HTMX_URL) + r"\"[^>]*>")


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def test_R_SEC_4_the_vendored_htmx_is_the_pinned_file():
    """The committed copy hashes to HTMX_SRI, the hash the CDN's file is checked against (the
    browser tests fetch that file from the npm registry and check it too), and its licence
    travels with it."""
    vendored = STATIC / HTMX_FALLBACK
    assert vendored.name == f"htmx-{HTMX_VERSION}.min.js"
    assert vendored.is_file(), f"commit htmx {HTMX_VERSION}'s dist/htmx.min.js (npm pack htmx.org@{HTMX_VERSION}) as {vendored}"
    assert sri(vendored.read_bytes()) == HTMX_SRI, f"{vendored} is not the file HTMX_SRI pins: replace it or the hash"
    assert "Zero-Clause BSD" in (vendored.parent / "htmx.LICENSE").read_text()
    assert sorted(p.name for p in vendored.parent.glob("htmx-*.js")) == [vendored.name], "remove the old htmx"


def test_R_SEC_4_pages_name_the_served_copy_as_htmx_fallback(app, client):
    """Every page's htmx tag loads the CDN file with its hash and names, for app.js, the copy
    served from our own origin (which the policy's 'self' allows); that URL answers with the
    same bytes as JavaScript, under the same headers as every response."""
    html = client.get("/login").get_data(as_text=True)
    tag = HTMX_TAG.search(html)
    assert tag, "the page has no htmx <script> from the CDN"
    attributes = dict((name, unescape(value)) for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))
    assert attributes["integrity"] == HTMX_SRI
    assert "defer" in tag.group(0)
    fallback = attributes["data-fallback"]
    assert fallback == f"/static/{HTMX_FALLBACK}"
    served = client.get(fallback)
    assert served.status_code == 200
    assert served.mimetype in ("text/javascript", "application/javascript")
    assert sri(served.get_data()) == HTMX_SRI
    assert_security_headers(served)
    served.close()
    # app.js, deferred after it, is what loads the fallback: it must come after the htmx tag.
    assert html.index(tag.group(0)) < html.index('src="/static/app.js?v=')  # versioned (static_files.py)
