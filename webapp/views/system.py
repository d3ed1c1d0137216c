"""Operator endpoints: a health check for the VPS's monitoring."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from webapp.extensions import db, redis_client

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def health():
    """200 when the database and Redis answer, 503 (saying which failed) otherwise; no login needed."""
    checks = {"database": _check(lambda: db.session.execute(text("SELECT 1"))),
              "redis": _check(lambda: redis_client().ping())}
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "failing", **checks), 200 if healthy else 503


def _check(probe) -> str:
    try:
        probe()
    except Exception as error:  # reported, not raised: this page exists to say what is down
        return f"failing: {type(error).__name__}"
    return "ok"
