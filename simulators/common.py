"""What every simulator shares: the `/_sim/` control API (request log, fault injection, rate-limit
counters) and deterministic people with phones written the many ways shoppers write them.

Platform modules call ``install(app, is_api=...)`` and then add their own `/_sim/` routes for
orders (add, change quantities, status, delivery), and ``install_demo_page(...)``: the HTML page
at ``GET /_sim/`` ("demo shop control") where a newcomer changes the demo shop in a browser, its
buttons posting to ``POST /_sim/demo/<action>`` (form field ``order_id`` for per-order actions)
and coming back to the page with a one-line message of what changed. The page also shows what
connects the shop to Orderdock: its Website URL and its credentials under the labels of the
wizard's fields, so that a newcomer can try the wizard with the spare shop `make run` leaves
unconnected (option ``spare=1``). It is the simulator's page, on loopback: the made-up
credentials of a simulated shop are there to be read.

Faults (``POST /_sim/faults`` with ``{"kind", "count": 1, "retry_after": 1, "after": 0}``) wait
in one queue, first in first out; each platform API request takes the fault at the head of the
queue, if any. ``after: N`` lets N API requests pass untouched before that fault is served, so
``{"kind": k, "after": N - 1}`` hits the Nth next API request; with ``count`` > 1 the copies
follow one another. The control API and the demo page never count (``POST /_sim/slow`` with
``{"seconds": s}`` makes every API answer come s seconds late, a shop on a slow host). Kinds
(``FAULT_KINDS``):

* "401" .. "503": that status with the platform's own error body ("429" with ``retry_after``);
* "timeout": the answer comes after ``timeout_seconds`` (longer than a test client waits);
* "malformed": ``{"truncated": `` with the JSON content type and 200;
* "truncated": the real answer to the request, its body cut in the middle (JSON type and
  status kept, Content-Length matching the cut body, so only the JSON parser notices);
* "html": a maintenance page with 200;
* "repeat": the request is answered with the previous 2xx answer to the same method and path,
  verbatim (body, status, headers such as Link or X-WP-Total), as a cache that ignores the
  query string serves a stale page; with no previous answer there, the request is served
  normally and the fault is spent.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, redirect, render_template_string, request

FAULT_KINDS = ("401", "403", "404", "429", "500", "502", "503", "timeout", "malformed", "html",
               "truncated", "repeat")
PASS_THROUGH = ("truncated", "repeat")  # faults that need the real (or the last real) answer


@dataclass
class SimState:
    """Shared, lock-protected state of one simulator process."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: list[dict] = field(default_factory=list)
    faults: deque = field(default_factory=deque)  # each: {"kind", "retry_after", "after"}
    answers: dict = field(default_factory=dict)  # (method, path) -> the last real answer, for "repeat"
    stats: dict = field(default_factory=lambda: {"requests": 0, "rate_limited": 0, "faults_served": 0})
    calls: deque = field(default_factory=deque)  # arrival times, for the rate limit
    rate_limit: tuple[int, float] | None = None  # (requests, per seconds) or None
    slow_seconds: float = 0.0  # every API answer waits this long first: a slow shop (``/_sim/slow``)
    timeout_seconds: float = 3.0
    version: int = 0  # bumped by every change to the shop's orders (see ``selection``)
    selections: dict = field(default_factory=dict)  # (query, version) -> the query's rows

    def changed(self) -> None:
        """Say the shop's orders changed: a platform's own API write calls this (the control
        API's writes are counted by ``install``)."""
        with self.lock:
            self.version += 1

    def selection(self, query: tuple, size: int, select: Callable[[], Any]) -> Any:
        """``select()``'s answer for ``query``, computed once while the shop stays unchanged.

        Paging through 100,000 orders then filters and sorts them once, not once per page.
        The shop has changed when ``version`` moved (a write through the control API, the demo
        page or the platform's own API) or when its number of orders (``size``) did (an order
        added or deleted from Python, as tests do). The caller holds the shop's lock; what
        ``select`` returns must not be changed by the caller.
        """
        key = (query, self.version, size)
        with self.lock:
            if key not in self.selections:
                if len(self.selections) >= 8:
                    self.selections.clear()
                self.selections[key] = select()
            return self.selections[key]


def install(app: Flask, is_api, rate_limit: tuple[int, float] | None = None,
            error_body=None) -> SimState:
    """Add the request log, faults and rate limit to ``app``; ``is_api(path)`` says which paths
    count as platform API calls. ``error_body(status, kind)`` renders the platform's own error."""
    state = SimState(rate_limit=rate_limit)
    app.extensions["sim_state"] = state
    render = error_body or (lambda status, kind: jsonify(error=kind))

    @app.before_request
    def record_and_interfere():
        # The control API and the demo page are ours, never the platform's: they must not show
        # up in the request log, meet an injected fault or use up the rate limit.
        if request.path.startswith("/_sim/") or not is_api(request.path):
            return None
        with state.lock:
            state.stats["requests"] += 1
            state.requests.append(_describe_request())
            fault = _next_fault(state)
            limited = _over_limit(state)
            slow = state.slow_seconds
        if slow:
            time.sleep(slow)  # outside the lock: other requests are slow too, not queued behind it
        if fault and fault["kind"] in PASS_THROUGH:
            replay = _pass_through(state, fault)
            if replay is not None:
                return replay
        elif fault:
            g.sim_fault = True
            return _serve_fault(state, fault, render)
        if limited is not None:
            g.sim_fault = True
            return _too_many(render, limited)
        return None

    @app.teardown_request
    def count_changes(_error=None) -> None:
        # The control API and the demo page change the shop by POST; counted once the change
        # is made, so that no selection computed meanwhile outlives it.
        if request.path.startswith("/_sim/") and request.method not in ("GET", "HEAD", "OPTIONS"):
            state.changed()

    @app.after_request
    def remember_or_cut(response: Response) -> Response:
        if request.path.startswith("/_sim/") or not is_api(request.path) or g.get("sim_fault"):
            return response
        if g.get("sim_truncate"):
            body = response.get_data()
            response.set_data(body[:len(body) // 2])  # set_data fixes Content-Length
            return response
        if response.status_code >= 300:
            return response  # a cache keeps good answers only
        with state.lock:
            state.answers[(request.method, request.path)] = (
                response.get_data(), response.status_code, list(response.headers.items()))
        return response

    @app.get("/_sim/requests")
    def sim_requests():
        return jsonify(state.requests)

    @app.delete("/_sim/requests")
    def sim_clear_requests():
        with state.lock:
            state.requests.clear()
        return jsonify(ok=True)

    @app.post("/_sim/slow")
    def sim_slow():
        """``{"seconds": 2}``: every API answer from now on comes that much later (a shop on a slow
        host: an import takes long without using our CPU); 0 makes it quick again."""
        seconds = float(request.get_json(force=True).get("seconds", 0))
        if not 0 <= seconds <= 60:
            return jsonify(error="seconds must be between 0 and 60"), 400
        with state.lock:
            state.slow_seconds = seconds
        return jsonify(seconds=seconds)

    @app.post("/_sim/faults")
    def sim_faults():
        body = request.get_json(force=True)
        kind = str(body.get("kind"))
        if kind not in FAULT_KINDS:
            return jsonify(error=f"kind must be one of {FAULT_KINDS}"), 400
        with state.lock:
            for number in range(int(body.get("count", 1))):
                state.faults.append({"kind": kind, "retry_after": body.get("retry_after", 1),
                                     "after": int(body.get("after", 0)) if number == 0 else 0})
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


def _next_fault(state: SimState) -> dict | None:
    """The fault this API request meets (caller holds the lock): the head of the queue, once
    the requests its ``after`` lets pass have passed."""
    if not state.faults:
        return None
    head = state.faults[0]
    if head.get("after", 0) > 0:
        head["after"] -= 1
        return None
    return state.faults.popleft()


def _pass_through(state: SimState, fault: dict) -> Response | None:
    """"truncated": mark the real answer for cutting (``after_request``); "repeat": the last
    real answer to this method and path, or the real answer when there is none yet."""
    if fault["kind"] == "truncated":
        g.sim_truncate = True
        with state.lock:
            state.stats["faults_served"] += 1
        return None
    with state.lock:
        last = state.answers.get((request.method, request.path))
        if last is not None:
            state.stats["faults_served"] += 1
    if last is None:
        return None
    body, status, headers = last
    g.sim_fault = True  # a replay is not a new answer to remember
    return Response(body, status=status, headers=headers)


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


# ---------------------------------------------------------------------------------------------
# The demo page: GET /_sim/
# ---------------------------------------------------------------------------------------------

DEMO_ROWS = 15  # the newest orders the page lists: enough to find the one just added


@dataclass(frozen=True)
class DemoAction:
    """One button of the demo page. ``run(order_id)`` (or ``run()`` for a shop-wide action,
    ``per_order=False``) changes the shop and returns one line saying what changed."""

    name: str  # the form posts to /_sim/demo/<name>
    label: str
    run: Callable[..., str]
    per_order: bool = True


class DemoError(Exception):
    """An action that cannot be done; the page answers ``status`` with the message."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def demo_order(orders: dict[int, dict], order_id: int) -> dict:
    """The shop's order, or a DemoError 404 that names the id."""
    order = orders.get(order_id)
    if order is None:
        raise DemoError(f"There is no order {order_id} in this shop.", 404)
    return order


def next_open_status(current: Any, cycle: Sequence, closed: Sequence, shown: str) -> Any:
    """The status after ``current`` in ``cycle`` (open statuses only); ``shown`` names the order
    and its status for the refusal ("Order 7 is Delivered"). A closed order is refused rather
    than reopened: Orderdock stops re-reading closed Cartum orders, so nothing would show."""
    if current in closed:
        raise DemoError(f"{shown}, a closed status; pick an open order.")
    return next_in(cycle, current)


def next_in(cycle: Sequence, current: Any) -> Any:
    """The value after ``current`` in ``cycle``, round and round; the first if it is not there."""
    return cycle[(list(cycle).index(current) + 1) % len(cycle)] if current in cycle else cycle[0]


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def is_spare(options: dict) -> bool:
    """The ``spare`` option: a demo shop `make run` leaves unconnected, for the wizard."""
    return str(options.get("spare", "")).strip().lower() in ("1", "true", "yes", "on")


def install_demo_page(app: Flask, title: str, list_orders: Callable[[], list[dict]],
                      actions: Sequence[DemoAction], access: Callable[[], list[tuple[str, str]]] = list,
                      notes: Callable[[], list[str]] = list, spare: bool = False,
                      webhooks: Callable[[], list[dict]] | None = None) -> None:
    """``GET /_sim/`` and ``POST /_sim/demo/<action>`` for the platform ``title``.

    ``list_orders()`` gives the orders newest first as ``{id, number, created, status, total}``.
    ``access()`` gives the credentials as ``(label, value)`` pairs, labelled as Orderdock's
    wizard labels its fields; ``notes()`` any other hint for the wizard (a language, a zone).
    ``spare`` says the shop is not connected to Orderdock, and where to connect it.
    ``webhooks()`` gives the webhook subscriptions (``webhooks.Hooks.neutral``) for a small
    table at the foot of the page.
    """
    by_name = {action.name: action for action in actions}

    @app.get("/_sim/")
    def sim_demo_page():
        rows = [("Platform", title), ("Website URL", request.host_url.rstrip("/")), *access()]
        return render_template_string(
            DEMO_PAGE, title=title, orders=list_orders()[:DEMO_ROWS], access=rows, notes=notes(), spare=spare,
            shop_actions=[a for a in actions if not a.per_order],
            order_actions=[a for a in actions if a.per_order], message=request.args.get("message", ""),
            webhooks=None if webhooks is None else webhooks())

    @app.post("/_sim/demo/<name>")
    def sim_demo_action(name: str):
        try:
            message = _run_demo_action(by_name.get(name), name)
        except DemoError as error:
            page = render_template_string(DEMO_ERROR, title=title, message=error.message)
            return page, error.status
        # 303: the browser comes back with a GET, so a reload does not repeat the change.
        return redirect("/_sim/?" + urlencode({"message": message}), code=303)


SECRET_PARAMETERS = re.compile(
    r"([?&](?:consumer_secret|password|access_token|client_secret|token)=)[^&\s]*", re.IGNORECASE)


def loggable(request_line: str) -> str:
    """A request line fit for an access log file: the values of query parameters that carry a
    secret (a WooCommerce consumer secret over https, say) hidden, control characters shown
    as "?" (no terminal colours, no forged lines)."""
    line = SECRET_PARAMETERS.sub(r"\1[hidden]", request_line)
    return "".join(char if char.isprintable() else "?" for char in line)


def _run_demo_action(action: DemoAction | None, name: str) -> str:
    if action is None:
        raise DemoError(f"There is no demo action {name!r}.", 404)
    if not action.per_order:
        return action.run()
    text = request.form.get("order_id", "").strip()
    if not text.isdigit():
        raise DemoError(f"order_id must be an order number, not {text!r}.", 400)
    return action.run(int(text))


DEMO_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } td, th { padding: .3em .6em; border-bottom: 1px solid #ddd; }
td.total { text-align: right; } form { display: inline; }
table.access th { text-align: left; font-weight: normal; color: #555; } table.access code { font-size: 1.1em; }
.spare { background: #fff8e1; padding: .5em 1em; }
.message { background: #e8f5e9; padding: .5em 1em; } .error { background: #fdecea; padding: .5em 1em; }
</style>"""

# Jinja autoescapes templates rendered from strings in Flask: buyer names and messages are safe.
DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} demo shop control</title>
""" + DEMO_STYLE + """</head><body>
<h1>{{ title }} {% if spare %}spare {% endif %}demo shop control</h1>
{% if spare %}
<p class="spare">This {{ title }} shop is a simulator, and <strong>not connected to Orderdock</strong>:
it is there for you to connect. In Orderdock, open Settings &gt; Stores &gt; + Store and type
what is below; once it is connected, the changes you make here reach Orderdock through its
webhooks within seconds when Orderdock has registered them (they are listed at the foot of this
page), else with its next sync (every 5 minutes).</p>
{% else %}
<p>This {{ title }} shop is a simulator; the changes you make here reach Orderdock through its
webhooks within seconds when Orderdock has registered them (they are listed at the foot of this
page), else with its next sync (every 5 minutes).</p>
{% endif %}
{% if message %}<p class="message">{{ message }}</p>{% endif %}
<h2>{% if spare %}Connecting it to Orderdock{% else %}How Orderdock connects to it{% endif %}</h2>
<table class="access">
{% for label, value in access %}<tr><th>{{ label }}</th><td><code>{{ value }}</code></td></tr>
{% endfor %}</table>
{% for note in notes %}<p>{{ note }}</p>{% endfor %}
{% for action in shop_actions %}
<form method="post" action="/_sim/demo/{{ action.name }}"><button>{{ action.label }}</button></form>
{% endfor %}
<h2>The {{ orders|length }} newest orders</h2>
<table>
<tr><th>Id</th><th>Number</th><th>Created</th><th>Status</th><th>Total</th><th></th></tr>
{% for order in orders %}
<tr><td>{{ order.id }}</td><td>{{ order.number }}</td><td>{{ order.created }}</td>
<td>{{ order.status }}</td><td class="total">{{ order.total }}</td>
<td>{% for action in order_actions %}<form method="post" action="/_sim/demo/{{ action.name }}">
<input type="hidden" name="order_id" value="{{ order.id }}"><button>{{ action.label }}</button></form>
{% endfor %}</td></tr>
{% endfor %}
</table>
{% if webhooks is not none %}
<h2>Webhooks</h2>
{% if webhooks %}
<p>The shop also sends its order changes to these addresses, registered through its API,
as the real platform does (see the simulator's documentation for each platform's rules).</p>
<table>
<tr><th>Id</th><th>Topic</th><th>Sent to</th><th>Status</th></tr>
{% for hook in webhooks %}
<tr><td>{{ hook.id }}</td><td>{{ hook.topic }}</td><td><code>{{ hook.url }}</code></td><td>{{ hook.status }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>No webhooks are registered: Orderdock registers them when its public address (PUBLIC_BASE_URL)
is set.</p>
{% endif %}
{% endif %}
</body></html>
"""

DEMO_ERROR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} demo shop control</title>
""" + DEMO_STYLE + """</head><body>
<h1>{{ title }} demo shop control</h1>
<p class="error">{{ message }}</p>
<p><a href="/_sim/">Back to the demo shop</a></p>
</body></html>
"""
