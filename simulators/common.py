"""What every simulator shares: the `/_sim/` control API (request log, fault injection, rate-limit
counters) and deterministic people with phones written the many ways shoppers write them.

Platform modules call ``install(app, is_api=...)`` and then add their own `/_sim/` routes for
orders (add, change quantities, status, delivery).
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request

FAULT_KINDS = ("401", "403", "404", "429", "500", "502", "503", "timeout", "malformed", "html")


@dataclass
class SimState:
    """Shared, lock-protected state of one simulator process."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: list[dict] = field(default_factory=list)
    faults: deque = field(default_factory=deque)  # each: {"kind", "retry_after"}
    stats: dict = field(default_factory=lambda: {"requests": 0, "rate_limited": 0, "faults_served": 0})
    calls: deque = field(default_factory=deque)  # arrival times, for the rate limit
    rate_limit: tuple[int, float] | None = None  # (requests, per seconds) or None
    timeout_seconds: float = 3.0


def install(app: Flask, is_api, rate_limit: tuple[int, float] | None = None,
            error_body=None) -> SimState:
    """Add the request log, faults and rate limit to ``app``; ``is_api(path)`` says which paths
    count as platform API calls. ``error_body(status, kind)`` renders the platform's own error."""
    state = SimState(rate_limit=rate_limit)
    app.extensions["sim_state"] = state
    render = error_body or (lambda status, kind: jsonify(error=kind))

    @app.before_request
    def record_and_interfere():
        if not is_api(request.path):
            return None
        with state.lock:
            state.stats["requests"] += 1
            state.requests.append(_describe_request())
            fault = state.faults.popleft() if state.faults else None
            limited = _over_limit(state)
        if fault:
            return _serve_fault(state, fault, render)
        if limited is not None:
            return _too_many(render, limited)
        return None

    @app.get("/_sim/requests")
    def sim_requests():
        return jsonify(state.requests)

    @app.delete("/_sim/requests")
    def sim_clear_requests():
        with state.lock:
            state.requests.clear()
        return jsonify(ok=True)

    @app.post("/_sim/faults")
    def sim_faults():
        body = request.get_json(force=True)
        kind = str(body.get("kind"))
        if kind not in FAULT_KINDS:
            return jsonify(error=f"kind must be one of {FAULT_KINDS}"), 400
        with state.lock:
            for _ in range(int(body.get("count", 1))):
                state.faults.append({"kind": kind, "retry_after": body.get("retry_after", 1)})
        return jsonify(queued=len(state.faults))

    @app.delete("/_sim/faults")
    def sim_clear_faults():
        with state.lock:
            state.faults.clear()
        return jsonify(queued=0)

    @app.get("/_sim/stats")
    def sim_stats():
        return jsonify(state.stats)

    @app.post("/_sim/rate-limit")
    def sim_rate_limit():
        body = request.get_json(force=True)
        with state.lock:
            state.rate_limit = (int(body["requests"]), float(body["per_seconds"])) if body.get("requests") else None
            state.calls.clear()
        return jsonify(rate_limit=state.rate_limit)

    return state


def _describe_request() -> dict:
    body = request.get_data(as_text=True)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return {"method": request.method, "path": request.path, "query": request.args.to_dict(flat=False),
            "json": parsed, "form": request.form.to_dict(flat=False) if request.form else None,
            "time": time.time()}


def _over_limit(state: SimState) -> float | None:
    """Seconds to wait when this call breaks the simulator's moving-window limit, else None."""
    if state.rate_limit is None:
        return None
    allowed, window = state.rate_limit
    now = time.monotonic()
    while state.calls and now - state.calls[0] >= window:
        state.calls.popleft()
    if len(state.calls) >= allowed:
        state.stats["rate_limited"] += 1
        return max(window - (now - state.calls[0]), 0.01)
    state.calls.append(now)
    return None


def _too_many(render, wait: float) -> Response:
    response = render(429, "rate_limited")
    response = response if isinstance(response, Response) else jsonify(response)
    response.status_code = 429
    response.headers["Retry-After"] = f"{max(wait, 1.0):.0f}"
    return response


def _serve_fault(state: SimState, fault: dict, render) -> Response:
    with state.lock:
        state.stats["faults_served"] += 1
    kind = fault["kind"]
    if kind == "timeout":
        time.sleep(state.timeout_seconds)
        return Response("late", status=504)
    if kind == "malformed":
        return Response('{"truncated": ', status=200, mimetype="application/json")
    if kind == "html":
        return Response("<html><body><h1>Maintenance</h1></body></html>", status=200, mimetype="text/html")
    status = int(kind)
    response = render(status, kind)
    response = response if isinstance(response, Response) else jsonify(response)
    response.status_code = status
    if status == 429:
        response.headers["Retry-After"] = str(fault.get("retry_after", 1))
    return response


FIRST = ["Anna", "Jonas", "Olena", "Lukas", "Marta", "Taras", "Sofia", "Piotr", "Emma", "Noah"]
LAST = ["Schmidt", "Weber", "Kovalenko", "Becker", "Nowak", "Shevchenko", "Fischer", "Wagner"]


def phone_variants(national_digits: str, country: str = "380") -> list[str]:
    """One phone written the ways shoppers write it; all normalize to the same E.164 number."""
    d = national_digits
    return [f"+{country} {d[:2]} {d[2:5]}-{d[5:7]}-{d[7:]}", f"{country}{d}", f"+{country}{d}",
            f"+{country} ({d[:2]}) {d[2:5]} {d[5:7]} {d[7:]}"]


def people(seed: int, count: int) -> list[dict]:
    """Deterministic buyers; some return with their phone written another way."""
    rng = random.Random(seed)
    folks = []
    for i in range(count):
        digits = f"{rng.choice(['67', '50', '63', '93'])}{rng.randrange(1000000, 9999999)}"
        first, last = FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)]
        folks.append({"first_name": first, "last_name": last, "phones": phone_variants(digits),
                      "email": f"{first.lower()}.{last.lower()}{i}@example.com"})
    return folks
