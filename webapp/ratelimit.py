"""Sign-in limits (R-SEC-3): failed sign-ins counted per address and per login in the app's
Redis, and the page that says when to try again.

Only failures count (the form shown again: a wrong password, an unknown login, a switched-off
account), so an office whose employees all sign in through one address is never held up; once
a limit is reached even the right password waits until it clears. The limits are
``SIGN_IN_LIMIT_PER_LOGIN`` and ``SIGN_IN_LIMIT_PER_ADDRESS`` (see config.py).

Each app gets its own Limiter: Flask-Limiter keeps its storage on the Limiter object, so a
module-level one would follow whichever app was created last, and the tests and the browser
tests' server run several apps in one process, each on its own Redis.
"""
from __future__ import annotations

import math
import time

from flask import Flask, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from webapp.htmx import is_htmx

SIGN_IN_ENDPOINT = "auth.login"


def init_app(app: Flask) -> None:
    """Bind a Limiter on REDIS_URL to ``app`` and put the sign-in view under its two limits."""
    limiter = Limiter(
        get_remote_address,
        storage_uri=app.config["REDIS_URL"],
        storage_options={"socket_timeout": 5, "socket_connect_timeout": 5},
        strategy="moving-window",
        key_prefix="orderdock-sign-in",
        # Redis away: count in this process's memory meanwhile rather than refuse every sign-in.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    app.extensions["orderdock_limiter"] = limiter
    view = app.view_functions[SIGN_IN_ENDPOINT]
    view = limiter.limit(lambda: current_app.config["SIGN_IN_LIMIT_PER_LOGIN"], key_func=login_key,
                         methods=["POST"], deduct_when=failed_sign_in,
                         error_message="Too many failed sign-ins for this login.")(view)
    view = limiter.limit(lambda: current_app.config["SIGN_IN_LIMIT_PER_ADDRESS"], key_func=get_remote_address,
                         methods=["POST"], deduct_when=failed_sign_in,
                         error_message="Too many failed sign-ins from your address.")(view)
    app.view_functions[SIGN_IN_ENDPOINT] = view
    app.register_error_handler(RateLimitExceeded, too_many_attempts)


def login_key() -> str:
    """The login as typed, the way sign-in compares it (case and spaces aside)."""
    return "login:" + request.form.get("login", "").strip().lower()[:64]


def failed_sign_in(response) -> bool:
    """The form came back (200): the attempt failed. A redirect is a success, a 429 a refusal."""
    return response.status_code == 200


def too_many_attempts(error: RateLimitExceeded):
    """429 in the app's error page: what happened, and how long to wait (also as Retry-After)."""
    wait = _seconds_to_wait()
    message = (f"{error.description} Wait {_spoken(wait)} and try again. If you have forgotten "
               "your password, ask an administrator to set a new one.")
    template = "errors/_message.html" if is_htmx() else "errors/error.html"
    page = render_template(template, status=429, title="Too many sign-in attempts", message=message)
    return page, 429, {"Retry-After": str(wait)}


def _seconds_to_wait() -> int:
    limit = current_app.extensions["orderdock_limiter"].current_limit
    if limit is None:
        return 60
    return max(1, math.ceil(limit.window.reset_time - time.time()))  # when the oldest failure counted ages out


def _spoken(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"
