"""Issue 13, bytes: answers compressed for browsers that accept it (Flask-Compress), tiny ones
and event streams left alone, and static files cached for a year under URLs that carry their
content's hash, without changing the Content-Security-Policy or the SRI-pinned htmx."""
from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
from flask import Response

from tests.integration.conftest import sign_in
from tests.integration.test_htmx_fallback import sri
from tests.integration.test_R_SEC_4_headers import assert_security_headers
from tests.support import factories
from webapp.templating import HTMX_FALLBACK, HTMX_SRI

YEAR = "max-age=31536000"
STATIC_LINK = re.compile(r'(?:src|href|data-fallback)="(/static/[^"]+)"')


def vary(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Vary", "").split(",")}


def test_pages_and_htmx_partials_are_compressed_for_browsers_that_accept_it(client, world):
    """The orders page and its htmx partial come gzip- or Brotli-encoded when asked, decode to
    the very page sent plainly, keep every security header and say what they vary on."""
    for _ in range(30):
        factories.order(world.main, world.repair, factories.client())
    sign_in(client, "admin")
    for headers in ({}, {"HX-Request": "true"}):
        plain = client.get("/orders/", headers=headers)
        zipped = client.get("/orders/", headers={**headers, "Accept-Encoding": "gzip"})
        squeezed = client.get("/orders/", headers={**headers, "Accept-Encoding": "br, gzip"})
        assert "Content-Encoding" not in plain.headers
        assert zipped.headers["Content-Encoding"] == "gzip" and squeezed.headers["Content-Encoding"] == "br"
        assert gzip.decompress(zipped.get_data()) == plain.get_data()
        assert brotli.decompress(squeezed.get_data()) == plain.get_data()
        assert len(zipped.get_data()) < len(plain.get_data()) / 3
        for response in (zipped, squeezed):
            assert response.status_code == 200 and "Accept-Encoding" in vary(response)
            assert_security_headers(response)
        assert "HX-Request" in vary(zipped)  # one address, two renderings


def test_tiny_answers_and_event_streams_are_sent_as_they_are(app, client, world):
    """Under 500 bytes compressing costs more than it saves (the counters that pages
    poll); an event stream is never held in a compressor's buffer."""
    def events():
        yield from (f"data: {'x' * 100} {n}\n\n" for n in range(20))

    app.add_url_rule("/_test/events", "test_events", lambda: Response(events(), mimetype="text/event-stream"))
    sign_in(client, "admin")
    counter = client.get("/notifications/count", headers={"Accept-Encoding": "gzip, br, zstd"})
    assert counter.status_code == 200 and len(counter.get_data()) < 500 and "Content-Encoding" not in counter.headers
    stream = client.get("/_test/events", headers={"Accept-Encoding": "gzip, br, zstd"})
    assert "Content-Encoding" not in stream.headers and stream.get_data(as_text=True).count("data: ") == 20


def test_static_files_have_versioned_urls_cached_for_a_year(app, client):
    """Each page names app.css and app.js by the hash of their bytes; under that URL they are
    cached for a year (immutable). The plain URL, or an old hash, is revalidated at each use."""
    html = client.get("/login").get_data(as_text=True)
    links = dict(re.match(r"/static/([^?]+)\??(.*)", link).groups() for link in STATIC_LINK.findall(html))
    for name in ("app.css", "app.js"):
        body = (Path(app.static_folder) / name).read_bytes()
        assert links[name] == f"v={hashlib.sha256(body).hexdigest()[:12]}"
        cached = client.get(f"/static/{name}?{links[name]}")
        assert cached.status_code == 200 and cached.get_data() == body
        assert set(cached.headers["Cache-Control"].split(", ")) == {"public", YEAR, "immutable"}
        assert_security_headers(cached)
        for stale in (f"/static/{name}", f"/static/{name}?v=000000000000"):
            answer = client.get(stale)
            assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-cache"
            answer.close()
        cached.close()


def test_a_changed_static_file_gets_a_new_url(app, client, tmp_path):
    app.static_folder = str(tmp_path)
    sheet = tmp_path / "app.css"
    sheet.write_text("body { color: black; }")
    before = re.search(r'href="/static/app.css\?v=(\w+)"', client.get("/login").get_data(as_text=True)).group(1)
    sheet.write_text("body { color: navy; }")
    after = re.search(r'href="/static/app.css\?v=(\w+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert before != after
    assert "immutable" in client.get(f"/static/app.css?v={after}").headers["Cache-Control"]
    assert client.get(f"/static/app.css?v={before}").headers["Cache-Control"] == "no-cache"


def test_R_SEC_4_the_vendored_htmx_keeps_its_address_and_hash_and_is_cached_for_a_year(client):
    """Its name carries its version (and its bytes are pinned to HTMX_SRI), so the address app.js
    loads stays as it was; compressed on the way, it decodes to the bytes the hash pins."""
    html = client.get("/login").get_data(as_text=True)
    assert f'data-fallback="/static/{HTMX_FALLBACK}"' in html
    answer = client.get(f"/static/{HTMX_FALLBACK}", headers={"Accept-Encoding": "br"})
    assert answer.headers["Content-Encoding"] == "br"
    assert sri(brotli.decompress(answer.get_data())) == HTMX_SRI
    assert set(answer.headers["Cache-Control"].split(", ")) == {"public", YEAR, "immutable"}
    assert_security_headers(answer)


def test_status_colours_under_their_version_are_immutable(client, world):
    sign_in(client, "admin")
    link = re.search(r'href="(/status-colors\.css\?v=\w+)"', client.get("/orders/").get_data(as_text=True)).group(1)
    cache = set(client.get(link).headers["Cache-Control"].split(", "))
    assert {"private", YEAR, "immutable"} == cache
    assert client.get("/status-colors.css").headers["Cache-Control"] == "no-cache"
