"""R-SEC-3: sign-in is rate-limited per address and per login; an unknown login takes as long
as a known one.

Choices where the rule leaves room: only failed attempts count (the form shown again: wrong
password, unknown login, switched-off account), so an office signing in through one address is
never held up, and a limit reached refuses even the right password until it clears. Each test
sets both limits itself (``SIGN_IN_LIMIT_PER_LOGIN``, ``SIGN_IN_LIMIT_PER_ADDRESS``), and sends
from addresses of its own, on a Redis the ``redis`` fixture has just emptied.
"""
from __future__ import annotations

import statistics
import time

import pytest
from flask import g

from tests.integration.conftest import csrf_token
from tests.support import factories
from webapp.models import Role


@pytest.fixture
def limits(app, redis):
    """Set the two limits for this test; ``redis`` empties the session's Redis first."""
    def set_limits(per_login: str, per_address: str) -> None:
        app.config.update(SIGN_IN_LIMIT_PER_LOGIN=per_login, SIGN_IN_LIMIT_PER_ADDRESS=per_address)
    return set_limits


def attempt(client, login: str, password: str = "not the password", address: str = "192.0.2.10"):
    """One sign-in from ``address``, with a form token as a browser has it."""
    g.pop("_login_user", None)
    token = csrf_token(client)
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token},
                       environ_overrides={"REMOTE_ADDR": address})


def assert_too_many(response, reason: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 429, html
    assert "Too many sign-in attempts" in html and reason in html, html
    assert "Wait " in html and "and try again" in html, html
    assert 'class="card error-page"' in html, "the app's own error page"
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60


def test_R_SEC_3_failed_sign_ins_for_one_login_are_limited_from_any_address(client, world, limits):
    """Three wrong passwords for Maria, each from another address: the fourth try is refused
    with 429, even with the right password; another login from the same address still gets in."""
    limits("3 per minute", "100 per minute")
    factories.employee("maria", role=Role.MANAGER, locations=[world.main])
    for n in range(3):
        response = attempt(client, "maria", address=f"192.0.2.{n + 1}")
        assert response.status_code == 200
        assert "The login or password is wrong" in response.get_data(as_text=True)
    assert_too_many(attempt(client, "Maria ", factories.PASSWORD, address="192.0.2.4"), "for this login")
    assert attempt(client, "admin", factories.PASSWORD, address="192.0.2.4").status_code == 302


def test_R_SEC_3_failed_sign_ins_from_one_address_are_limited_whatever_the_login(client, world, limits):
    """Successful sign-ins from one address do not count (our choice: an office behind one
    address is never held up); four unknown logins from there do, and the fifth try is refused
    whatever the login; the same employee from another address still gets in."""
    limits("100 per minute", "4 per minute")
    for _ in range(5):
        assert attempt(client, "admin", factories.PASSWORD, address="198.51.100.7").status_code == 302
    for n in range(4):
        assert attempt(client, f"nobody{n}", address="198.51.100.7").status_code == 200
    assert_too_many(attempt(client, "admin", factories.PASSWORD, address="198.51.100.7"), "from your address")
    assert attempt(client, "admin", factories.PASSWORD, address="198.51.100.8").status_code == 302


def test_R_SEC_3_the_counts_live_in_the_apps_redis(client, world, limits, redis):
    """The limiter keeps its counts in REDIS_URL, so every web worker shares them."""
    limits("10 per minute", "30 per minute")
    attempt(client, "someone-unknown", address="203.0.113.9")
    keys = [key.decode() for key in redis.scan_iter(count=1000)]
    assert any("someone-unknown" in key for key in keys), keys
    assert any("203.0.113.9" in key for key in keys), keys


def test_R_SEC_3_an_unknown_login_takes_as_long_as_a_known_one(client, world, limits):
    """A wrong password for a known login and any password for an unknown one are answered in
    about the same time (both compute a password hash). Medians of interleaved tries, and a band
    of 0.33-3: without the hash an unknown login answers some 25 times faster, and a busy
    machine slows both paths alike."""
    limits("100 per minute", "100 per minute")
    attempt(client, "warm-up-unknown", address="203.0.113.20")  # first-use costs out of the timing

    def timed(login: str, n: int) -> float:
        g.pop("_login_user", None)
        data = {"login": login, "password": "not the password", "csrf_token": csrf_token(client)}
        started = time.perf_counter()
        response = client.post("/login", data=data, environ_overrides={"REMOTE_ADDR": f"203.0.113.{30 + n}"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return elapsed

    known, unknown = [], []
    for n in range(5):
        known.append(timed("admin", n))
        unknown.append(timed(f"no-such-login-{n}", n))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.33 < ratio < 3, (known, unknown)


def test_R_SEC_3_with_redis_away_sign_in_works_and_is_still_limited(database_url, tmp_path, world):
    """Redis unreachable: sign-in still answers (no 500), and failures are counted in the web
    process's memory meanwhile, so the limit holds."""
    from tests.support.services import free_port
    from webapp import create_app
    from webapp.extensions import db

    away = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                       "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "away"), "TESTING": True,
                       "SIGN_IN_LIMIT_PER_LOGIN": "2 per minute", "SIGN_IN_LIMIT_PER_ADDRESS": "100 per minute"})
    client = away.test_client()
    with away.app_context():
        assert attempt(client, "admin", factories.PASSWORD).status_code == 302
        assert attempt(client, "admin").status_code == 200
        assert attempt(client, "admin").status_code == 200
        assert_too_many(attempt(client, "admin", factories.PASSWORD), "for this login")
        db.session.remove()
