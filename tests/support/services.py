"""A real Redis and real databases for the test session; nothing of ours is mocked.

The session starts its own ``redis-server`` on a free loopback port (and stops it), and
provides empty, migrated databases: a SQLite file always, and a private schema in the
PostgreSQL that ``TEST_DATABASE_URL`` points at, when it is set.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from webapp.config import normalize_database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A private redis-server for this test session; every test gets it flushed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, or `sudo apt-get install redis-server`.")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"redis-server did not answer on port {port} within 5 s")
    yield url
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis(redis_url) -> Redis:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def postgres_schema_url(base_url: str) -> tuple[str, str]:
    """Create a private schema in the PostgreSQL at ``base_url``; return (url using it, schema)."""
    base_url = normalize_database_url(base_url)
    schema = f"od_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    joiner = "&" if "?" in base_url else "?"
    return f"{base_url}{joiner}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(base_url: str, schema: str) -> None:
    engine = create_engine(normalize_database_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def database_backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        backends.append("postgresql")
    return backends


@pytest.fixture(scope="session", params=database_backends())
def database_url(request, tmp_path_factory) -> str:
    """An empty database brought to the newest migration, once per backend per session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'orderdock.db'}"
        migrate_database(url, tmp_path_factory)
        yield url
        return
    base = os.environ["TEST_DATABASE_URL"]
    url, schema = postgres_schema_url(base)
    migrate_database(url, tmp_path_factory)
    yield url
    drop_postgres_schema(base, schema)


def migrate_database(url: str, tmp_path_factory) -> None:
    """Apply the Alembic migrations, as `make run` does, so tests check them too."""
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test",
                      "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance"))})
    with app.app_context():
        upgrade()
        from webapp.extensions import db
        db.engine.dispose()


ROOT = Path(__file__).resolve().parents[2]
