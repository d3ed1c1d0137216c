"""The blueprints, one per area, and the error pages."""
from __future__ import annotations

from flask import Flask, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError

from webapp.htmx import is_htmx


def register_blueprints(app: Flask) -> None:
    from webapp.views import auth, clients, hooks, notifications, orders, products, settings, stores, system

    from webapp.views import order_updates  # noqa: F401  (adds the update routes to orders.bp)
    from webapp.views import operations  # noqa: F401  (adds Settings > Operations to settings.bp)

    for module in (auth, orders, clients, products, settings, stores, notifications, system, hooks):
        app.register_blueprint(module.bp)

    @app.get("/")
    @login_required
    def home():
        return redirect(url_for("orders.index"))

    @app.before_request
    def require_login():
        """Every page needs a signed-in employee, except signing in and the health check."""
        if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
            return None
        from webapp.extensions import login_manager
        return login_manager.unauthorized()

    _register_errors(app)
    _register_template_helpers(app)


def _register_template_helpers(app: Flask) -> None:
    from webapp.access import may_change
    from webapp.sync.platform import shop_links
    from webapp.sync.webhooks import poll_every
    from webapp.views.notifications import unread_count

    app.jinja_env.globals.update(may_change=may_change, shop_links=shop_links, unread_notifications=unread_count,
                                 poll_minutes=lambda store: int(poll_every(store).total_seconds() // 60))


PUBLIC_ENDPOINTS = {"auth.login", "system.health", "static", "hooks.receive"}  # hooks: signed by the shop


ERROR_TITLES = {400: "The request could not be read", 403: "Not allowed", 404: "Not found",
                405: "Not allowed", 409: "Cannot do that now", 500: "Something went wrong"}


def _register_errors(app: Flask) -> None:
    def render_error(status: int, message: str):
        template = "errors/_message.html" if is_htmx() else "errors/error.html"
        return render_template(template, status=status, title=ERROR_TITLES.get(status, "Error"),
                                message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "The form was sent without a valid security token, or it expired. "
                                 "Reload the page and try again.")

    for status in (400, 403, 404, 405, 409):
        app.register_error_handler(status, lambda error, s=status: render_error(s, error.description))

    @app.errorhandler(500)
    def server_error(error):
        return render_error(500, "The server hit an unexpected error. Try again; if it keeps happening, "
                                 "tell your administrator the time it happened.")
