"""Serve a platform simulator on a free loopback port for a test, and receive its webhooks."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
        hooks = app.extensions.get("sim_webhooks")
        if hooks is not None:
            hooks.close()


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

    def deliveries(self, **filters) -> list[dict]:
        """Every webhook attempt so far (``GET /_sim/webhooks/deliveries``)."""
        return self.control("GET", "webhooks/deliveries", params=filters)

    def wait_deliveries(self, check: Callable[[list[dict]], bool] = bool, timeout: float = 10.0,
                        **filters) -> list[dict]:
        """The webhook attempts once ``check(attempts)`` holds; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.deliveries(**filters)
            if check(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook attempts never matched: {rows[-5:]}")
            time.sleep(0.02)


class Receiver:
    """A tiny webhook receiver on a free loopback port: it keeps every request (method, path,
    headers, raw body) and answers each with ``answer(request)`` -> status (200 by default)."""

    def __init__(self, answer: Callable[[dict], int] | None = None):
        self.answer = answer or (lambda request: 200)
        self.received: list[dict] = []
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                           "body": self.rfile.read(length) if length else b"", "time": time.time()}
                status = receiver.answer(request)
                with receiver.lock:
                    receiver.received.append(request)
                    receiver.lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        """The requests once at least ``count`` arrived; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} webhook requests arrived, not {count}")
                self.lock.wait(left)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextmanager
def receiving(answer: Callable[[dict], int] | None = None):
    """Yield a running ``Receiver`` until the block ends."""
    receiver = Receiver(answer)
    try:
        yield receiver
    finally:
        receiver.close()
