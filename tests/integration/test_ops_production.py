"""Issue 15, production mode: what the server set-up of docs/deploy.md relies on in the product.

- A webhook address's token (the Cartum store's only proof, R-HOOK-2) never reaches gunicorn's
  access log, with deploy/gunicorn.conf.py as with `make run`'s web process (scripts/run.py):
  a real gunicorn serves the app on a free port and its log file is read.
- Behind nginx (TRUSTED_PROXIES=1) the client's address comes from X-Forwarded-For, so the
  sign-in limit per address (R-SEC-3) counts each client, not the proxy; and the scheme from
  X-Forwarded-Proto. With the default 0 neither header is believed: a client cannot pick the
  address it is counted under.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import g

from tests.integration.conftest import csrf_token
from tests.integration.test_sync_jobs import wait_until
from tests.support.launcher import load_launcher
from tests.support.services import free_port
from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]


def deploy_argv(port: int, log: Path) -> list[str]:
    """deploy/gunicorn.conf.py as orderdock-web.service runs it, on a test port and a log file."""
    return [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(log),
            "webapp:create_app()"]


def make_run_argv(port: int, log: Path) -> list[str]:
    """The web process of `make run` exactly as scripts/run.py lists it (access log on stdout)."""
    return next(argv for name, argv, _ in load_launcher().process_specs(port) if name == "web")


@pytest.fixture
def gunicorn(database_url, redis_url, tmp_path):
    """Start gunicorn from an argv builder; yield (base URL, access log path); stop it after."""
    started = []

    def start(argv_for) -> tuple[str, Path]:
        port, log = free_port(), tmp_path / "access.log"
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test",
               "INSTANCE_PATH": str(tmp_path / "instance")}
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv_for(port, log), cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: proc.poll() is not None or answers(url + "/healthz"), 30, "gunicorn to answer")
        assert proc.poll() is None, proc.stderr.read().decode()
        return url, log

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(15)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def send(url: str, method: str = "POST", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=b"{}" if method == "POST" else None, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("argv_for", [deploy_argv, make_run_argv], ids=["deploy-conf", "make-run-web"])
def test_ops_a_webhook_token_never_reaches_gunicorns_access_log(gunicorn, argv_for):
    """Requests for /hooks/<token>/cartum, spelt plainly, with %2F slashes, in capitals with a
    query, and with the address as Referer, each get an access log line; the delivery's shows
    /hooks/[token]/cartum and 401, and no line holds the token or its first half."""
    url, log = gunicorn(argv_for)
    token = secrets.token_urlsafe(24)
    assert send(f"{url}/hooks/{token}/cartum") == 401
    send(f"{url}/hooks%2F{token}%2Fcartum")
    send(f"{url}/HOOKS/{token}/cartum?from=shop")  # no such route (a redirect to sign in): logged all the same
    send(f"{url}/hooks/{token}/cartum", method="GET", headers={"Referer": f"{url}/hooks/{token}/x"})
    lines = wait_until(lambda: len(hook_lines(log)) >= 4 and hook_lines(log), 10, "four access log lines")
    text = log.read_text()
    assert token not in text and token[:12] not in text, text
    assert any("/hooks/[token]/cartum" in line and " 401 " in line for line in lines), text


def hook_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "hooks" in line.lower()]


def sign_in_client(database_url, redis_url, tmp_path, proxies: int):
    """An app as behind nginx (or not), with a limit of 2 failed sign-ins per address."""
    proxied = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "TRUSTED_PROXIES": proxies,
        "SIGN_IN_LIMIT_PER_LOGIN": "100 per minute", "SIGN_IN_LIMIT_PER_ADDRESS": "2 per minute",
    })
    return proxied, proxied.test_client()


def attempt(client, forwarded_for: str, proto: str = "https"):
    """A failed sign-in arriving from nginx on loopback, for the client nginx names."""
    g.pop("_login_user", None)
    token = csrf_token(client)
    return client.post("/login", data={"login": "nobody", "password": "wrong", "csrf_token": token},
                       environ_overrides={"REMOTE_ADDR": "127.0.0.1"},
                       headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto,
                                "Referer": "https://localhost/login"})


def test_ops_behind_one_proxy_each_client_is_counted_under_its_own_address(app, redis, database_url, redis_url,
                                                                          tmp_path):
    """TRUSTED_PROXIES=1: two failures for 198.51.100.1 (as nginx appends it after whatever the
    client claimed) refuse its third try with 429, while 198.51.100.2 still gets the form; the
    https that nginx reports makes the answer carry HSTS."""
    proxied, client = sign_in_client(database_url, redis_url, tmp_path, proxies=1)
    with proxied.app_context():
        assert attempt(client, "198.51.100.1").status_code == 200
        assert attempt(client, "10.9.9.9, 198.51.100.1").status_code == 200  # a forged first hop changes nothing
        refused = attempt(client, "10.1.1.1, 198.51.100.1")
        assert refused.status_code == 429
        other = attempt(client, "198.51.100.2")
        assert other.status_code == 200
        assert "Strict-Transport-Security" in other.headers


def test_ops_without_trusted_proxies_forwarded_headers_are_ignored(app, redis, database_url, redis_url, tmp_path):
    """TRUSTED_PROXIES=0 (the default): X-Forwarded-For is not believed, so every try counts
    against the connecting address and a third try is refused whatever address the header
    names; X-Forwarded-Proto does not make plain HTTP look secure (no HSTS)."""
    proxied, client = sign_in_client(database_url, redis_url, tmp_path, proxies=0)
    with proxied.app_context():
        first = attempt(client, "198.51.100.1")
        assert first.status_code == 200
        assert "Strict-Transport-Security" not in first.headers
        assert attempt(client, "198.51.100.2").status_code == 200
        assert attempt(client, "198.51.100.3").status_code == 429
