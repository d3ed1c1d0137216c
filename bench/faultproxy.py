"""A fault-injecting TCP proxy on loopback: the faults the simulators cannot make.

``FaultProxy(target_host, target_port)`` listens on 127.0.0.1 (a free port) and pipes every
connection to the target. ``outage(seconds)`` drops every live connection at once and, for
``seconds``, closes each new one as soon as it is accepted: what a client sees when a
database server restarts or a network path breaks for a moment. ``stall(seconds)`` keeps
connections open but forwards nothing for that long (a hung peer). The bench puts it in front
of PostgreSQL; it forwards bytes only, so it serves any TCP protocol.

Bounded: every socket wait has a timeout, and ``close()`` stops the listener and every pipe.
"""
from __future__ import annotations

import select
import socket
import threading
import time

POLL = 0.05  # seconds between looks at the stop/outage flags while a pipe is idle


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pipes: set[socket.socket] = set()
        self._down_until = 0.0
        self._stalled_until = 0.0
        self._stop = threading.Event()
        self.dropped = 0  # connections cut or refused by outages, for the bench's notes
        threading.Thread(target=self._accept, daemon=True, name="faultproxy").start()

    def outage(self, seconds: float) -> None:
        """Cut every live connection now and refuse new ones for ``seconds``."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            pipes, self._pipes = list(self._pipes), set()
            self.dropped += len(pipes) // 2
        for sock in pipes:
            _close(sock)

    def stall(self, seconds: float) -> None:
        """Forward nothing, in either direction, for ``seconds``."""
        with self._lock:
            self._stalled_until = time.monotonic() + seconds

    def close(self) -> None:
        self._stop.set()
        _close(self._listener)
        self.outage(0)

    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return  # the listener was closed
            if self._down():
                with self._lock:
                    self.dropped += 1
                _close(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._pipes.update((client, upstream))
        try:
            self._pump(client, upstream)
        finally:
            with self._lock:
                self._pipes.difference_update((client, upstream))
            _close(client)
            _close(upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stop.is_set():
            if time.monotonic() < self._stalled_until:
                time.sleep(POLL)
                continue
            try:
                ready, _, _ = select.select(list(peers), [], [], POLL)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
            except (OSError, ValueError):
                return  # cut by an outage (closed under us) or by a peer


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
