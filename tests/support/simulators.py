"""Serve a platform simulator on a free loopback port for a test."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import requests
from werkzeug.serving import make_server

import simulators


@contextmanager
def serving(platform: str, **options):
    """Yield a ``Simulator`` running ``simulators.<platform>`` on 127.0.0.1 until the block ends."""
    app = simulators.create_app(platform, **options)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Simulator(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=5)


class Simulator:
    """A running simulator: its base URL, and its `/_sim/` control API."""

    def __init__(self, url: str, app):
        self.url = url
        self.app = app

    def control(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.url}/_sim/{path.lstrip('/')}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def inject(self, kind: str, count: int = 1, retry_after: float = 1):
        return self.control("POST", "faults", json={"kind": kind, "count": count, "retry_after": retry_after})

    def requests(self) -> list[dict]:
        return self.control("GET", "requests")

    def stats(self) -> dict:
        return self.control("GET", "stats")
