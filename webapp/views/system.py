"""Operator endpoints: a health check for the VPS's monitoring."""
from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.sync import health as background

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def health():
    """200 when the database, Redis, a worker for every queue and the scheduler are all there and
    no queue falls behind; 503 otherwise, ``problems`` saying what to do. No login needed; it
    shows no store, shop, job or machine, only counts and ages (see ``sync/health.py``); the
    workers by name are on the administrators' operations page."""
    report = background.report()
    report["workers"] = len(report["workers"])
    return jsonify(report), 200 if report["status"] == "ok" else 503
