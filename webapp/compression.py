"""Answers compressed for browsers that accept it (issue 13), by Flask-Compress.

Pages, htmx partials, CSS, JavaScript and JSON of 500 bytes or more are sent with the best
encoding the browser names in Accept-Encoding (zstd, Brotli, gzip); smaller ones go as they
are, where compressing costs more than it saves (the counters and "Sending…" notes that pages
poll every second or ten). Every answer says ``Vary: Accept-Encoding`` for caches. A
``text/event-stream`` is never compressed (it is not listed), so a stream's events would not
wait in a compressor's buffer. Requests without Accept-Encoding (the test client, curl) get
plain bytes.
"""
from __future__ import annotations

from flask import Flask
from flask_compress import Compress

MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
             "text/plain", "image/svg+xml"]

compress = Compress()


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    compress.init_app(app)
