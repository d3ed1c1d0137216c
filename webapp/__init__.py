"""Orderdock: the app factory, the only place extensions are bound."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from webapp import config as settings
from webapp import converters, sqlite_journal  # noqa: F401  (SQLite in WAL mode)
from webapp.extensions import csrf, db, login_manager, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app from the environment; ``overrides`` replace settings (tests)."""
    conf = settings.load(overrides)
    app = Flask(__name__, instance_path=conf["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(conf)
    _trust_proxies(app, conf["TRUSTED_PROXIES"])
    converters.register(app)  # R-SEC-5: every <int:…> route takes only ids a row can have
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    _init_login(app)

    from webapp import cli, compression, ratelimit, static_files, templating
    from webapp import security_headers
    from webapp.views import register_blueprints

    compression.init_app(app)  # issue 13; its after_request, registered first, runs last
    templating.init_app(app)
    static_files.init_app(app)  # issue 13: versioned static URLs, cached for a year
    security_headers.init_app(app)  # R-SEC-4: CSP, no framing, nosniff, referrer policy, HSTS
    register_blueprints(app)
    ratelimit.init_app(app)
    cli.init_app(app)
    return app


def _trust_proxies(app: Flask, count: int) -> None:
    """Issue 15: behind ``count`` proxies (nginx: 1) the client's address and scheme are the ones
    they forward. The Host stays the request's own: nginx passes it through as the client sent it."""
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=0, x_port=0, x_prefix=0)


def _init_login(app: Flask) -> None:
    from webapp.models import Employee

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_employee(session_id: str):
        return Employee.for_session(session_id)  # R-SEC-2: an ended session names nobody
