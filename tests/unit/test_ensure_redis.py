"""scripts/ensure_redis.py against real redis-server processes (nothing mocked)."""
from __future__ import annotations

import importlib.util
import shutil
import sys
import socket
import subprocess
import time
from pathlib import Path

import pytest
from redis import Redis

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure_redis.py"
spec = importlib.util.spec_from_file_location("ensure_redis", SCRIPT)
ensure_redis = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = ensure_redis  # dataclasses look their module up there
spec.loader.exec_module(ensure_redis)

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (make test installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def real_redis(tmp_path):
    """A redis-server of the test's own on a free port: the URL."""
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if ensure_redis.answers(url, timeout=0.2):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the test's redis-server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def silent_listener():
    """Something that is not Redis listening on a port: it accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_an_answering_redis_is_reused_and_left_alone(real_redis, tmp_path):
    handle = ensure_redis.ensure_redis(real_redis, tmp_path / "instance", first_port=free_port())

    assert handle.url == real_redis
    assert not handle.started
    handle.stop()  # a Redis we did not start is not ours to stop
    assert ensure_redis.answers(real_redis)
    assert not (tmp_path / "instance").exists()


def test_nothing_answering_starts_a_private_redis_and_stops_it(tmp_path):
    nothing_there = f"redis://127.0.0.1:{free_port()}/3"
    first = free_port()

    handle = ensure_redis.ensure_redis(nothing_there, tmp_path / "instance", first_port=first, log=lambda _: None)
    try:
        assert handle.started
        assert handle.url.startswith("redis://127.0.0.1:") and handle.url.endswith("/3")
        assert int(handle.url.rsplit(":", 1)[1].split("/")[0]) >= first
        client = Redis.from_url(handle.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        assert (tmp_path / "instance" / "redis" / "redis.log").exists()
    finally:
        handle.stop()
    assert handle.process.poll() is not None
    assert not ensure_redis.answers(handle.url, timeout=0.2)
    assert not list((tmp_path / "instance" / "redis").glob("*.rdb"))  # nothing persisted


def test_a_port_taken_by_something_else_is_skipped(silent_listener, real_redis, tmp_path):
    # The configured URL points at a listener that is not Redis: it does not count as an answer,
    # and that port is not picked for our own server either.
    assert not ensure_redis.answers(f"redis://127.0.0.1:{silent_listener}/0", timeout=0.2)
    assert not ensure_redis.port_is_free(silent_listener)
    busy = int(real_redis.rsplit(":", 1)[1].split("/")[0])
    assert not ensure_redis.port_is_free(busy)

    ports = ensure_redis.free_ports(first=busy, count=5)
    assert busy not in list(ports)

    handle = ensure_redis.ensure_redis(f"redis://127.0.0.1:{silent_listener}/0", tmp_path,
                                       first_port=busy, log=lambda _: None)
    try:
        assert handle.started and handle.url != real_redis
        assert ensure_redis.answers(handle.url)
    finally:
        handle.stop()
    assert ensure_redis.answers(real_redis)  # the Redis that held the first port is untouched


def test_missing_redis_server_without_root_says_what_to_run(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(ensure_redis.shutil, "which", lambda *a, **k: None)
    with pytest.raises(ensure_redis.RedisUnavailable, match="sudo apt-get install redis-server"):
        ensure_redis.redis_server_binary(install=False)


def test_passwords_stay_out_of_messages():
    assert ensure_redis.redacted("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert ensure_redis.redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
