"""R-SEC-4: every response carries the security headers, and the pages need nothing the
Content-Security-Policy forbids (no inline script, handler, ``javascript:`` link or style)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import sign_in
from tests.support import factories
from webapp.extensions import db
from webapp.templating import HTMX_URL

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"


def policy(response) -> dict[str, list[str]]:
    """The CSP header as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request.path} ({response.status_code}) has no Content-Security-Policy"
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


def assert_security_headers(response) -> None:
    where = f"{response.request.path} ({response.status_code})"
    csp = policy(response)
    assert csp["default-src"] == ["'self'"], where
    assert sorted(csp["script-src"]) == sorted(["'self'", HTMX_URL]), where
    assert csp["style-src"] == ["'self'"], where
    assert csp["object-src"] == ["'none'"], where
    assert csp["base-uri"] == ["'none'"], where
    assert csp["form-action"] == ["'self'"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    assert not any(source.startswith(("'unsafe", "data:", "*", "http:", "https:"))
                   for sources in csp.values() for source in sources if source != HTMX_URL), where
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") == "same-origin", where


@pytest.fixture
def order(world):
    return factories.order(world.main, world.repair, factories.client(), world.new)


def test_R_SEC_4_every_kind_of_response_carries_the_headers(app, client, world, order):
    """A page, a redirect, a 404, a refused CSRF token (400), a static file, an htmx partial and
    the login page (the one public page) all carry the same headers: one after_request hook."""
    responses = [client.get("/login"), client.get("/orders/")]  # the login page; a redirect to it
    assert responses[1].status_code == 302
    sign_in(client, "admin")
    responses += [
        client.get("/orders/"),
        client.get(f"/orders/{order.id}"),
        client.get("/orders/", headers={"HX-Request": "true"}),
        client.get("/orders/999999"),
        client.post("/logout"),  # no CSRF token
        client.get("/static/app.js"),
    ]
    assert [r.status_code for r in responses] == [200, 302, 200, 200, 200, 404, 400, 200]
    for response in responses:
        assert_security_headers(response)
        response.close()


def test_R_SEC_4_hsts_only_behind_https(app, client):
    """HSTS is sent when the request came over HTTPS (directly, or through a proxy the WSGI server
    trusts), or when ``SESSION_COOKIE_SECURE`` is on: that setting says the site is served over
    HTTPS only, as behind a TLS proxy the app may not see; browsers ignore HSTS over plain HTTP.
    Plain HTTP without that setting (development, tests) gets none, or a browser would refuse
    http://127.0.0.1 for a year."""
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers.get("Strict-Transport-Security") == "max-age=31536000"
    assert_security_headers(secure)
    app.config["SESSION_COOKIE_SECURE"] = True
    assert client.get("/login").headers.get("Strict-Transport-Security") == "max-age=31536000"


def test_R_SEC_4_htmx_is_configured_for_the_policy(client):
    """htmx would inject a <style> for its indicators and evaluate code for hx-on / js: values /
    trigger filters; the page's htmx-config turns all of that off (the indicator rules are in
    app.css)."""
    html = client.get("/login").get_data(as_text=True)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', html).group(1)
    for setting in ('"includeIndicatorStyles":false', '"allowEval":false', '"allowScriptTags":false'):
        assert setting in config.replace(" ", "")
    css = (TEMPLATES.parent / "static" / "app.css").read_text()
    assert ".htmx-indicator" in css


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"""<[^>]*\son[a-z]+\s*=""", re.I)
STYLE = re.compile(r"""<[^>]*\sstyle\s*=|<style\b""", re.I)
JS_URL = re.compile(r"""javascript:""", re.I)
HTMX_EVAL = re.compile(r"""hx-on|hx-vars|\bjs:""", re.I)


def test_R_SEC_4_templates_have_no_inline_script_handler_or_style():
    """The policy has no 'unsafe-inline': a template with an inline <script>, an on*= handler, a
    javascript: link, a style attribute or <style>, or an htmx feature that evaluates code would
    break under it. Behaviour lives in static/app.js, looks in static/app.css."""
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for name, pattern in (("inline <script>", INLINE_SCRIPT), ("on*= handler", HANDLER),
                              ("inline style", STYLE), ("javascript: URL", JS_URL),
                              ("htmx eval feature", HTMX_EVAL)):
            found += [f"{path.relative_to(TEMPLATES)}: {name}: {m.group(0)[:60]!r}" for m in pattern.finditer(text)]
    assert found == []


def test_R_SEC_4_status_badges_are_coloured_without_inline_style(app, client, world, order):
    """A status's own colour cannot be an inline style under the policy: the badge names its
    status's class, and /status-colors.css (linked from every signed-in page, versioned by the
    colours so a change shows at once) gives each class its colour."""
    sign_in(client, "admin")
    for url in ("/orders/", f"/orders/{order.id}", "/settings/statuses"):
        html = client.get(url).get_data(as_text=True)
        assert not STYLE.search(html), url
        assert f'class="badge status-{world.new.id}"' in html, url
    link = re.search(r'href="(/status-colors\.css\?v=[0-9a-f]+)"', html).group(1)
    sheet = client.get(link)
    assert sheet.mimetype == "text/css"
    assert_security_headers(sheet)
    css = sheet.get_data(as_text=True)
    assert f".badge.status-{world.progress.id} {{ background: #16a34a; color: #fff; }}" in css
    world.progress.color = "#fde047"
    db.session.commit()
    changed = re.search(r'href="(/status-colors\.css\?v=[0-9a-f]+)"', client.get("/orders/").get_data(as_text=True))
    assert changed.group(1) != link
    assert f".badge.status-{world.progress.id} {{ background: #fde047; color: #111; }}" in \
        client.get(changed.group(1)).get_data(as_text=True)
