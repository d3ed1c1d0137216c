"""Operator endpoints: a health check for the VPS's monitoring."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from webapp.extensions import db, redis_client
from webapp.sync import schedule

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def health():
    """200 when the database and Redis answer, 503 (saying which failed) otherwise; no login needed.
    The worker's state is reported too, without failing the check: the web side still works."""
    checks = {"database": _check(lambda: db.session.execute(text("SELECT 1"))),
              "redis": _check(lambda: redis_client().ping())}
    healthy = all(value == "ok" for value in checks.values())
    worker = _worker_state() if checks["redis"] == "ok" else "unknown"
    return jsonify(status="ok" if healthy else "failing", worker=worker, **checks), 200 if healthy else 503


def _worker_state() -> str:
    """Whether the scheduler and a worker ran the heartbeat job recently (see sync/schedule.py)."""
    beat = redis_client().get(schedule.HEARTBEAT_KEY)
    if beat is None:
        return "no heartbeat in the last 5 minutes: is `python worker.py work` and `schedule` running?"
    return "ok"


def _check(probe) -> str:
    try:
        probe()
    except Exception as error:  # reported, not raised: this page exists to say what is down
        return f"failing: {type(error).__name__}"
    return "ok"
