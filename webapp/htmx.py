"""htmx in one place: views ask ``is_htmx()`` and use these helpers, never raw header strings."""
from __future__ import annotations

import json

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render_page_or_partial(page: str, partial: str, /, **context) -> Response:
    """One view, two renderings: the whole page, or only the part htmx swaps."""
    response = make_response(render_template(partial if is_htmx() else page, **context))
    response.vary.add("HX-Request")
    return response


def trigger(response: Response, event: str, detail: object = None) -> Response:
    """Ask the page to fire ``event`` once the swap is done (HX-Trigger)."""
    response.headers["HX-Trigger"] = json.dumps({event: detail if detail is not None else True})
    return response


def redirect_for_htmx(response: Response, url: str) -> Response:
    response.headers["HX-Redirect"] = url
    return response


STOP_POLLING = 286  # htmx stops an `every Ns` trigger when it receives this status
