"""Settings > Operations (issue 15), for administrators: each store's lag, throughput and failing
orders, and the background queues, workers and scheduler; the page asks for itself again every
10 seconds (htmx, one view rendering the page or its partial). The figures come from
``webapp.operations``; the route hangs on the settings blueprint, so its administrators-only
check (``settings.only_administrators``) covers it.

A page of our own rather than rq-dashboard mounted under /settings:
- rq-dashboard brings its own assets and inline scripts and styles, which our Content-Security-
  Policy (R-SEC-4) forbids; loosening the policy for one page would weaken it for the others.
- It has its own authentication model (none, or HTTP basic auth), beside our sessions, roles and
  CSRF; ours decides here as everywhere else.
- Its actions (delete, requeue, empty a queue, cancel a job) act on RQ behind our run
  bookkeeping: a SyncRun would stay "queued" or "running" for a job that is gone, a fixed job id
  would be taken twice, and a store's lock would outlive its job. This page changes nothing.
- It knows queues and jobs, not stores: nothing of a store's lag, throughput or failed orders,
  which is what an operator of Orderdock asks first.
"""
from __future__ import annotations

from webapp import operations as figures
from webapp.htmx import render_page_or_partial
from webapp.views.settings import bp


@bp.get("/operations")
def operations():
    """Each store's lag, throughput and failing orders, and the queues' health."""
    return render_page_or_partial("settings/operations.html", "settings/partials/operations.html",
                                  **figures.overview(), duration=figures.duration)
