"""Update buttons for imported orders: one order now (R-ORD-4) or the selected ones
(R-ORD-3, Other actions > Update orders), each order at most once every 10 minutes. The
work is a sync job; the order page polls until it is done and then shows the fresh order."""
from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlsplit

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from webapp.access import limit_to_my_locations, may_change, order_or_404, order_to_change
from webapp.converters import form_ids
from webapp.extensions import db
from webapp.forms.orders import ConfirmForm
from webapp.htmx import STOP_POLLING, is_htmx
from webapp.models import LogLevel, Order, RunState, Store, SyncLogEntry, SyncRun
from webapp.sync.enqueue import enqueue_order_sync
from webapp.sync.limits import manual_update_allowed
from webapp.views.orders import _order_context, bp, render_page_or_partial

MAX_BULK = 500


def wait_text(seconds: int) -> str:
    minutes, rest = divmod(max(1, seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _outcome(order: Order, run: SyncRun) -> str:
    """What the finished update did to this order, in a line (R-REL-4: never "updated" when the
    shop's changes were not applied)."""
    if run.state != RunState.SUCCEEDED:
        return f"The update did not finish: {run.error}"
    not_applied = db.session.scalar(select(SyncLogEntry.id).filter_by(
        run_id=run.id, external_id=order.external_id, level=LogLevel.NOT_APPLIED).limit(1))
    if not_applied is not None:
        return ("Read from the shop just now; its changes were not applied because the order is "
                "written off. The feed below says what changed.")
    return "Updated from the shop just now."


def _imported_order(order_id: int, to_change: bool = False) -> Order:
    """The order, seen (or, pressing the button, changed: R-ORD-5) by the signed-in employee,
    and still linked to a connected store."""
    order = order_to_change(order_id) if to_change else order_or_404(order_id)
    if order.store_id is None or order.store.deleted_at is not None:
        abort(409, description=f"Order {order.number} is not linked to a connected store, so there is nothing to update.")
    return order


@bp.post("/<int:order_id>/update")
def update_one(order_id: int):
    """R-ORD-4: re-read this order from its shop now, unless it was updated in the last 10 minutes.
    Like the bulk action, only for employees who may work with imported orders (R-ORD-5)."""
    order = _imported_order(order_id, to_change=True)
    if not ConfirmForm().validate_on_submit():
        return _show(order, message="The form expired; reload the page and try again.")
    allowed, wait = manual_update_allowed(order.id)
    if not allowed:
        return _show(order, message=f"This order was updated less than 10 minutes ago. "
                                    f"You can update it again in {wait_text(wait)}.")
    run = enqueue_order_sync(order.store, [order.external_id])
    return _show(order, run=run, message="Updating from the shop…")


@bp.get("/<int:order_id>/update/<int:run_id>")
def update_progress(order_id: int, run_id: int):
    """Polled while the update runs; then the whole order, refreshed, replaces the page part."""
    order = _imported_order(order_id)
    run = db.session.get(SyncRun, run_id)
    if run is None or run.store_id != order.store_id:  # another store's run would show its errors
        abort(404, description=f"There is no such update of order {order.number}. Reload the order's page.")
    if run.state in (RunState.QUEUED, RunState.RUNNING):
        return _show(order, run=run, message="Updating from the shop…")
    db.session.refresh(order)
    message = _outcome(order, run)
    response = render_page_or_partial("orders/detail.html", "orders/partials/order.html",
                                      **_order_context(order), update_message=message)
    response.status_code = STOP_POLLING
    response.headers["HX-Retarget"], response.headers["HX-Reswap"] = "#order", "innerHTML"
    return response


def _show(order: Order, message: str, run: SyncRun | None = None):
    if not is_htmx():  # without JavaScript: the message on the order page
        flash(message, "info")
        return redirect(url_for("orders.detail", order_id=order.id))
    return render_page_or_partial("orders/detail.html", "orders/partials/imported.html",
                                  **_order_context(order), update_message=message, update_run=run)


@bp.post("/update")
def update_selected():
    """R-ORD-3: the ticked orders re-read from their shops, one job per store."""
    ConfirmForm().validate_on_submit() or _refuse("The form expired; reload the page and try again.")
    ids = form_ids("order_ids")[:MAX_BULK]
    if not ids:  # not "0 orders queued": nothing was asked for
        flash("No order is ticked. Tick the orders to update first (the boxes at the start of their rows), "
              "then choose Other actions > Update orders.", "error")
        return redirect(_back_to_list(request.form.get("next", "")))
    orders = db.session.scalars(limit_to_my_locations(select(Order).where(Order.id.in_(ids or [-1])))).all()
    queued, waits, local = defaultdict(list), [], 0
    for order in orders:
        if order.store_id is None or order.store.deleted_at is not None:
            local += 1
            continue
        allowed, wait = manual_update_allowed(order.id) if may_change(order) else (False, 0)
        (queued[order.store_id].append(order.external_id) if allowed else waits.append(wait))
    for store_id, external_ids in queued.items():
        enqueue_order_sync(db.session.get(Store, store_id), external_ids)
    flash(_bulk_summary(sum(map(len, queued.values())), waits, local), "info")
    return redirect(_back_to_list(request.form.get("next", "")))


def _back_to_list(target: str) -> str:
    """The orders list the employee came from (its filters kept); never another site."""
    parts = urlsplit(target)
    if parts.path.startswith("/orders/") and not parts.path.startswith("//"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("orders.index")


def _bulk_summary(queued: int, waits: list[int], local: int) -> str:
    parts = [f"{queued} order{'s' if queued != 1 else ''} queued for update"]
    waiting = [w for w in waits if w > 0]
    if waiting:
        parts.append(f"{len(waiting)} updated less than 10 minutes ago, not queued (all can be updated "
                     f"again in {wait_text(max(waiting))})")
    if len(waits) > len(waiting):
        parts.append(f"{len(waits) - len(waiting)} not updated: imported orders need the permission "
                     "\"Can add products without deduction\"")
    if local:
        parts.append(f"{local} created here, with no store to update from")
    return "; ".join(parts) + "."


def _refuse(message: str):
    abort(400, description=message)
