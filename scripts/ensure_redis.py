"""Make sure a Redis answers, and say which URL to use.

If ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) answers PING, that Redis is used
and never touched. Otherwise Debian's ``redis-server`` is started on a free loopback port
(6380 and up), keeping nothing on disk (``--save "" --appendonly no``) and its working
files under ``instance/redis``. When ``redis-server`` is missing it is installed with
apt-get if we are root; otherwise the one command to run is printed.

As a library (used by scripts/run.py)::

    redis = ensure_redis(os.environ.get("REDIS_URL", DEFAULT_URL), instance_dir)
    ...                      # redis.url is the URL to export
    redis.stop()             # stops the server only if we started it

As a command: ``python scripts/ensure_redis.py`` prints the URL to use. When it had to
start a server, it keeps that server running until Ctrl-C (it never leaves one behind).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis import Redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
FIRST_PORT = 6380
PORTS_TO_TRY = 100
INSTALL_HINT = "sudo apt-get install redis-server"
ROOT = Path(__file__).resolve().parent.parent


class RedisUnavailable(RuntimeError):
    """No Redis answers and we cannot start one; the message says what to do."""


@dataclass
class RedisHandle:
    url: str
    process: subprocess.Popen | None = None  # set only when we started the server

    @property
    def started(self) -> bool:
        return self.process is not None

    def stop(self, timeout: float = 10) -> None:
        """Stop the server we started (SIGTERM, then SIGKILL); a Redis we found is left alone."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def die_with_parent(parent: int | None = None):
    """A ``preexec_fn`` that has Linux SIGTERM the child when the parent dies, even by SIGKILL.

    Without it a launcher killed hard would leave its Redis and servers running. Code run
    between fork and exec is only safe while the parent has no other threads, so with threads
    running this returns None (no preexec_fn); the launcher spawns before starting any.
    """
    if threading.active_count() > 1:
        return None
    parent = parent or os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: nothing to do
        return None

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at ``url`` answers PING (wrong password, not Redis, nothing there: False)."""
    try:
        client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (we can bind it, as redis-server will)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(first: int = FIRST_PORT, count: int = PORTS_TO_TRY):
    """Free loopback ports from ``first`` upwards."""
    for port in range(first, first + count):
        if port_is_free(port):
            yield port


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def redis_server_binary(install: bool | None = None) -> str:
    """Path of redis-server, installing Debian's package when missing and we are root."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if found:
        return found
    if install is None:
        install = is_root() and shutil.which("apt-get") is not None
    if not install:
        raise RedisUnavailable(
            "No Redis answers and redis-server is not installed. Install it with:\n"
            f"    {INSTALL_HINT}\n"
            "or point REDIS_URL at a running Redis."
        )
    print("redis-server is missing; installing Debian's redis-server package...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]
    if subprocess.run(cmd, env=env).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update"], env=env, check=False)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise RedisUnavailable(f"apt-get could not install redis-server; try: {INSTALL_HINT}")
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if not found:
        raise RedisUnavailable("redis-server is still not on PATH after installing the package.")
    return found


def url_for_port(original: str, port: int) -> str:
    """Our own server's URL: loopback, that port, the database number of the original URL."""
    path = urlsplit(original).path or "/0"
    return f"redis://127.0.0.1:{port}{path}"


def start_redis_server(binary: str, port: int, workdir: Path, wait: float = 10.0) -> subprocess.Popen | None:
    """Start redis-server on 127.0.0.1:port; the process once it answers, or None if it exited."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "redis.log", "ab")
    try:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal must not stop it before its clients
            preexec_fn=die_with_parent(),
        )
    finally:
        log.close()
    deadline = time.monotonic() + wait
    url = f"redis://127.0.0.1:{port}/0"
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None  # most likely someone took the port between our check and its bind
            if answers(url, timeout=0.5):
                return proc
            time.sleep(0.05)
    except BaseException:  # Ctrl-C while waiting: leave nothing behind
        proc.kill()
        proc.wait()
        raise
    proc.kill()
    proc.wait()
    raise RedisUnavailable(f"redis-server on port {port} did not answer within {wait:.0f} s; see {workdir / 'redis.log'}")


def ensure_redis(url: str | None = None, instance: Path | None = None, *, first_port: int = FIRST_PORT,
                 install: bool | None = None, log=print) -> RedisHandle:
    """Reuse the Redis at ``url`` when it answers, else start our own; see the module docstring."""
    url = url or DEFAULT_URL
    if answers(url):
        return RedisHandle(url)
    instance = Path(instance) if instance else Path(os.environ.get("INSTANCE_PATH", ROOT / "instance"))
    workdir = (instance / "redis").resolve()
    binary = redis_server_binary(install)
    for attempt, port in enumerate(free_ports(first_port)):
        if attempt == 3:
            break
        log(f"No Redis answers at {redacted(url)}; starting redis-server on 127.0.0.1:{port} "
            f"(files in {workdir}).")
        proc = start_redis_server(binary, port, workdir)
        if proc is not None:
            return RedisHandle(url_for_port(url, port), proc)
    raise RedisUnavailable(f"Could not start redis-server on a free port from {first_port}; "
                           f"see {workdir / 'redis.log'}")


def main() -> int:
    try:
        handle = ensure_redis(os.environ.get("REDIS_URL"), log=lambda msg: print(msg, file=sys.stderr))
    except RedisUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(handle.url, flush=True)
    if not handle.started:
        return 0
    print(f"Started redis-server (pid {handle.process.pid}); Ctrl-C stops it.", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
