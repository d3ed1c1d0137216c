"""R-SEC-4: the security headers every response carries, set in one after_request hook.

Our own dozen lines rather than flask-talisman: the headers are fixed strings plus one
condition, and Talisman's defaults would fight the rest of the app (it redirects HTTP to HTTPS,
which breaks `make run` and the tests, and it rewrites SESSION_COOKIE_SECURE, which R-SEC-2
owns), so using it would mean switching most of it off.

The policy allows our own origin and, for scripts, the one pinned htmx file (checked by its SRI
hash too); nothing inline, no eval, no framing. The pages are built for it: behaviour lives in
static/app.js, looks in static/app.css, status colours in /status-colors.css, and htmx is told
not to inject its indicator <style> nor evaluate code (base.html's htmx-config).
"""
from __future__ import annotations

from flask import Flask, Response, current_app, request

from webapp.templating import HTMX_URL

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    f"script-src 'self' {HTMX_URL}",  # 'self': app.js, and htmx served from here when the CDN is out of reach
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    # Our URLs (order ids, searched names and phones) never reach the shops' sites linked from
    # the pages; same-origin requests keep their Referer, which Flask-WTF checks over HTTPS.
    "Referrer-Policy": "same-origin",
}

# One year; no includeSubDomains: the operator's other subdomains are not ours to pin to HTTPS.
HSTS = "max-age=31536000"


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        # SESSION_COOKIE_SECURE=1 says the site is served over HTTPS only, also behind a TLS proxy
        # the app cannot see; a browser ignores HSTS that arrives over plain HTTP.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
