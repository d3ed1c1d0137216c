"""Orderdock: the app factory, the only place extensions are bound."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from webapp import config as settings
from webapp.extensions import csrf, db, login_manager, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app from the environment; ``overrides`` replace settings (tests)."""
    conf = settings.load(overrides)
    app = Flask(__name__, instance_path=conf["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(conf)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    _init_login(app)

    from webapp import cli, templating
    from webapp.views import register_blueprints

    templating.init_app(app)
    register_blueprints(app)
    cli.init_app(app)
    return app


def _init_login(app: Flask) -> None:
    from webapp.models import Employee

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_employee(employee_id: str):
        return db.session.get(Employee, int(employee_id))
