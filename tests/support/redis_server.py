"""A redis-server of our own on a free loopback port, for benchmarks and fault runs.

Never the shared Redis: whatever answers at REDIS_URL or on 6379 is not ours to flush or
restart. ``PrivateRedis`` starts Debian's redis-server (``scripts/ensure_redis.py`` finds or
installs it) with its files in a folder of ours, and can ``restart`` it on the same port:
``SHUTDOWN SAVE`` then start again, so the data survives as it does on a Debian Redis with
its default snapshotting, and clients see the connection drop for the outage.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from ensure_redis import free_ports, redis_server_binary, start_redis_server  # noqa: E402


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.binary = redis_server_binary()
        self.port = next(free_ports(20000, 2000))
        self.process = start_redis_server(self.binary, self.port, self.workdir)
        if self.process is None:
            raise RuntimeError(f"redis-server could not start on port {self.port}; see {self.workdir}/redis.log")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def restart(self, outage: float = 2.0) -> None:
        """Stop (saving its data), stay down ``outage`` seconds, start again on the same port."""
        client = Redis.from_url(self.url, socket_timeout=5)
        try:
            client.shutdown(save=True)
        except Exception:  # noqa: BLE001 - the server closes the connection as it goes
            pass
        finally:
            client.close()
        self.process.wait(timeout=10)
        time.sleep(outage)  # the outage itself: the fault being injected, not a wait for state
        self.process = start_redis_server(self.binary, self.port, self.workdir)
        if self.process is None:
            raise RuntimeError(f"redis-server did not come back on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.process.kill()
                self.process.wait(timeout=10)
