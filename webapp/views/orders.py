"""The orders table and the order page: feed, status, items and write-off."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from webapp.access import client_or_404, limit_to_my_locations, my_locations, order_or_404, order_to_change
from webapp.converters import arg_id, form_id, parse_id, refuse_id
from webapp.extensions import db
from webapp.forms.numbers import MONEY_MAX, QUANTITY_MAX, spelled
from webapp.forms.orders import CommentForm, ConfirmForm, ItemForm, NewOrderForm, StatusForm
from webapp.htmx import STOP_POLLING, is_htmx, render_page_or_partial
from webapp.models import Client, FeedKind, Order, OrderType, Product, Status, Store
from webapp.models.orders import FeedEntry, OrderLocked
from webapp.order_search import text_match
from webapp.paging import read_page
from webapp.platforms import PLATFORMS
from webapp.sync import status_push
from webapp.sync.delivery import last_delivery_cost
from webapp.templating import money
from webapp.views.clients import find_or_create_client
from webapp.views.notifications import mark_read

bp = Blueprint("orders", __name__, url_prefix="/orders")

SORTS = {"new": Order.created_at.desc(), "old": Order.created_at.asc()}


@bp.get("/")
def index():
    """The orders table, filtered by status, location and text; htmx swaps only the table."""
    filters = _read_filters()

    def narrow(query):
        return _apply_filters(limit_to_my_locations(query), filters)
    text = text_match(filters["q"], narrow) if filters["q"] else None  # looked for once: the page, its count
    rows = _apply_filters(limit_to_my_locations(select(Order)), filters, text)
    rows = rows.options(joinedload(Order.client), joinedload(Order.status), joinedload(Order.location),
                        joinedload(Order.manager), joinedload(Order.store))
    matching = _apply_filters(limit_to_my_locations(select(Order.id)), filters, text)
    page = read_page(rows.order_by(SORTS[filters["sort"]], Order.id.desc()), matching,
                     current_app.config["ORDERS_PER_PAGE"])
    statuses = db.session.scalars(select(Status).order_by(Status.position, Status.name)).all()
    return render_page_or_partial("orders/index.html", "orders/partials/table.html", page=page,
                                  filters=filters, statuses=statuses, locations=my_locations(),
                                  stores=_store_choices())


def _store_choices() -> list:
    """R-ORD-1's stores: the live ones by name, then the deleted ones whose orders are still here
    (marked in the filter). A deleted store whose orders were taken over when its shop was
    connected again (R-REL-1) has nothing left to filter by, so it is not offered."""
    has_orders = select(Order.id).where(Order.store_id == Store.id).exists()
    return db.session.execute(select(Store.id, Store.name, Store.deleted_at)
                              .where(or_(Store.deleted_at.is_(None), has_orders))
                              .order_by(Store.deleted_at.is_not(None), Store.name, Store.id)).all()


def _read_filters() -> dict:
    """The filters as typed in the address; a malformed id is a 400 naming it (R-SEC-5)."""
    args = request.args
    return {
        "q": args.get("q", "").strip()[:100],
        "status": arg_id("status"),
        "location": arg_id("location"),
        "sort": args.get("sort") if args.get("sort") in SORTS else "new",
        "store": _store_filter(args.get("store", "").strip()),
    }


def _store_filter(value: str) -> str:
    """R-ORD-1: "" (all orders), "office", "integrations", or one store's id (ASCII digits)."""
    if value in ("", "office", "integrations"):
        return value
    return str(parse_id(value) or refuse_id("store", value))


def _apply_filters(query, filters: dict, text_match=None):
    if filters["status"]:
        query = query.where(Order.status_id == filters["status"])
    if filters["location"]:
        query = query.where(Order.location_id == filters["location"])
    if text_match is not None:
        query = query.where(text_match)
    return _apply_store_filter(query, filters["store"])


def _apply_store_filter(query, store: str):
    if store == "office":
        return query.where(Order.store_id.is_(None))
    if store == "integrations":
        return query.where(Order.store_id.is_not(None))
    return query.where(Order.store_id == int(store)) if store else query


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Create an order in the back office for an existing or a new client."""
    form = NewOrderForm()
    form.location_id.choices = [(location.id, location.name) for location in my_locations()]
    form.order_type_id.choices = [(kind.id, kind.name) for kind in db.session.scalars(select(OrderType).order_by(OrderType.name))]
    client = _preset_client(form)
    if form.validate_on_submit():
        if not current_user.can_access(form.location_id.data):
            abort(403, description="You have no access to that location. Choose one of yours.")
        client = client or find_or_create_client(form)
        if client is not None:
            order = _create_order(form, client)
            flash(f"Order {order.number} created.", "success")
            return redirect(url_for("orders.detail", order_id=order.id))
    return render_template("orders/new.html", form=form, client=client)


def _preset_client(form: NewOrderForm) -> Client | None:
    """The client chosen before (from their page, or kept in the form): one the employee may see,
    or an order here would make any client visible (R-SEC-5)."""
    client_id = arg_id("client_id") or form_id("client_id")
    if not client_id:
        return None
    client = client_or_404(client_id)
    form.client_id.data = str(client.id)
    return client


def _create_order(form: NewOrderForm, client: Client) -> Order:
    order_type = db.get_or_404(OrderType, form.order_type_id.data)
    order = Order(number=Order.next_number(), location_id=form.location_id.data, order_type=order_type,
                  status=order_type.initial_status, client=client, manager=current_user,
                  currency=current_app.config["CURRENCY"])
    db.session.add(order)
    order.note(FeedKind.SYSTEM, f"Order created by {current_user.name}.", current_user)
    db.session.commit()
    return order


@bp.get("/<int:order_id>")
def detail(order_id: int):
    """The order page: header, items with totals, and the event feed."""
    order = order_or_404(order_id)
    if order.store_id is not None:
        mark_read(order.id)  # R-ORD-8: seen, however the employee got here
        db.session.commit()
    return render_page_or_partial("orders/detail.html", "orders/partials/order.html", **_order_context(order))


def _order_context(order: Order, **forms) -> dict:
    """The order page's forms: those given (with their errors), the others empty (formdata=None),
    so a form that just succeeded is not shown again with what was typed."""
    status_form = forms.get("status_form") or StatusForm(formdata=None, status_id=order.status_id)
    status_form.status_id.choices = _status_choices()
    item_form = forms.get("item_form") or ItemForm(formdata=None)
    item_form.product_id.choices = _product_choices()
    return {"order": order, "status_form": status_form, "item_form": item_form,
            "comment_form": forms.get("comment_form") or CommentForm(formdata=None),
            "confirm_form": ConfirmForm(), "shop_total_note": shop_total_note(order),
            "push": _push_watch(order) if order.store_id is not None and status_push.pending(order.id) else None}


def shop_total_note(order: Order) -> str | None:
    """Why the shop's own total differs from our amount (the sum of the items, R-ORD-6); None
    when it does not (or the shop gave none). Delivery is named when a delivery comment says
    its cost; it is only looked for in a higher total (Cartum's total leaves delivery out)."""
    if order.platform_total is None or order.platform_total == order.amount:
        return None
    difference, currency = order.platform_total - order.amount, order.currency
    more = "more" if difference > 0 else "less"
    text = f"The shop counts {money(abs(difference), currency)} {more} than the sum of the items here."
    if difference < 0:
        return text + " It takes off a discount on the whole order (a coupon), not in the item prices here."
    delivery = last_delivery_cost(order)
    if not delivery:
        return text + " It adds delivery, fees or taxes that are not items here."
    if delivery == difference:
        return text + f" That is the delivery cost, {money(delivery, currency)}."
    return (text + f" Delivery costs {money(delivery, currency)}; the other "
            f"{money(abs(difference - delivery), currency)} are fees, taxes or discounts as the shop counts them.")


def _status_choices() -> list[tuple[int, str]]:
    return [(s.id, s.name) for s in db.session.scalars(select(Status).order_by(Status.position, Status.name))]


def _product_choices() -> list[tuple[int, str]]:
    products = db.session.execute(select(Product.id, Product.name).order_by(Product.name)).all()
    return [(0, "— not in the catalogue —")] + [(row.id, row.name) for row in products]


def _order_response(order: Order, partial: str = "orders/partials/order.html", notice: str | None = None, **forms):
    """After a change: the swapped part for htmx, or back to the order page (POST-redirect-GET).
    A ``notice`` travels with the htmx answer (into the page's messages, out of band): flashed
    there, it would wait in the session and appear on the next page instead."""
    if is_htmx():
        return render_page_or_partial("orders/detail.html", partial, **_order_context(order, **forms), notice=notice)
    if notice:
        flash(notice, "success")
    return redirect(url_for("orders.detail", order_id=order.id))


@bp.post("/<int:order_id>/comments")
def comment(order_id: int):
    """Add an employee's comment to the event feed."""
    order = order_to_change(order_id)
    form = CommentForm()
    if form.validate_on_submit():
        order.note(FeedKind.COMMENT, form.text.data.strip(), current_user)
        db.session.commit()
        return _order_response(order, "orders/partials/feed.html")
    return _invalid(order, "orders/partials/feed.html", comment_form=form)


@bp.post("/<int:order_id>/status")
def change_status(order_id: int):
    """Change the status; the feed records who changed it from what to what."""
    order = order_to_change(order_id)
    form = StatusForm()
    form.status_id.choices = _status_choices()
    if form.validate_on_submit():
        order.change_status(db.session.get(Status, form.status_id.data), current_user)
        db.session.commit()
        status_push.enqueue_push(order)  # R-STA-1/3/4; choosing it again re-sends a failed push
        return _order_response(order)
    return _invalid(order, status_form=form)


@bp.post("/<int:order_id>/items")
def add_item(order_id: int):
    """Add a product or a free-text line to the order."""
    order = order_to_change(order_id)
    form = ItemForm()
    form.product_id.choices = _product_choices()
    if form.validate_on_submit():
        product = db.session.get(Product, form.product_id.data) if form.product_id.data else None
        name = (form.name.data or "").strip() or (product.name if product else "")
        if not name:
            form.name.errors.append("Choose a product or type the item's name.")
        elif _fits(order, form, product):
            try:
                order.add_item(name, form.quantity.data, form.price.data, product, form.deductible.data)
            except OrderLocked as locked:
                abort(409, description=str(locked))
            db.session.commit()
            return _order_response(order)
    return _invalid(order, item_form=form)


@bp.post("/<int:order_id>/write-off")
def write_off(order_id: int):
    """Deduct the order's products from stock and freeze its items."""
    order = order_to_change(order_id)
    if not current_user.can_write_off:
        abort(403, description="You are not allowed to write off products. Ask an administrator for the permission.")
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired. Reload the page and try again.")
    try:
        order.write_off(current_user)
    except OrderLocked as locked:
        abort(409, description=str(locked))
    db.session.commit()
    status_push.after_write_off(order)  # R-STA-3: a held-back "completed" goes now
    return _order_response(order, notice=f"Products of order {order.number} written off.")


def _fits(order: Order, form: ItemForm, product: Product | None) -> bool:
    """Each number fits its column (the form checks that); here their product: the line's total,
    the order's new amount and the product's stock must fit theirs too (R-SEC-5)."""
    line = (form.quantity.data * form.price.data).quantize(Decimal("0.01"))
    if order.amount + line > MONEY_MAX:
        form.price.errors.append(
            f"This line would come to {spelled(line, 2)}, and the order to {spelled(order.amount + line, 2)}: more "
            f"than an order can hold ({spelled(MONEY_MAX, 2)}). Check the quantity and the price.")
        return False
    if form.deductible.data and product is not None and product.stock - form.quantity.data < -QUANTITY_MAX:
        form.quantity.errors.append(f"Taking this from stock would leave less than -{spelled(QUANTITY_MAX, 3)} "
                                    f"of {product.name}, more than the catalogue can count. Check the quantity.")
        return False
    return True


def _invalid(order: Order, partial: str = "orders/partials/order.html", **forms):
    """Re-show the order with the form's errors next to its fields (422 for htmx)."""
    response = render_page_or_partial("orders/detail.html", partial, **_order_context(order, **forms))
    response.status_code = 422
    return response


# ---------------------------------------------------------------------------------------------
# The status push's outcome, shown without a reload (R-STA-1/3)
# ---------------------------------------------------------------------------------------------

PUSH_POLLS = 90
"""How many times (once a second) the order page asks whether its status reached the shop. A
push the shop does not answer is retried for about 20 minutes (status_push.RETRY_INTERVALS);
the page does not wait that long: it says the feed will tell, and stops asking."""


@bp.get("/<int:order_id>/push")
def push_state(order_id: int):
    """Polled by the order page while its status is on the way to the shop: "Sending…" until the
    push job is done, then what the job wrote, beside the status and in the feed."""
    order = order_or_404(order_id)
    after, tries = arg_id("after") or 0, arg_id("n") or 1
    if not is_htmx():  # only the page asks; a person opening the address gets the order
        return redirect(url_for("orders.detail", order_id=order.id))
    if order.store_id is not None and tries < PUSH_POLLS and status_push.pending(order.id):
        return _push_part(order, _push_watch(order, after, tries + 1))
    if tries >= PUSH_POLLS and status_push.pending(order.id):
        text = (f"{_platform_title(order)} has not confirmed the status yet; Orderdock keeps trying, and the "
                "feed below will say what became of it. Reload the page later to see it.")
    else:
        text = " ".join(_push_entries(order, after))
    return _push_part(order, {"pending": False, "text": text}, STOP_POLLING)


def _push_part(order: Order, push: dict, status: int = 200):
    response = make_response(render_template("orders/partials/push_state.html", order=order, push=push), status)
    response.vary.add("HX-Request")  # the same address redirects a request without htmx
    return response


def _push_watch(order: Order, after: int | None = None, tries: int = 1) -> dict:
    """What the poller needs: the last feed entry before the push (what comes after it is the
    push's outcome) and how many times it has asked."""
    if after is None:
        after = db.session.scalar(select(func.max(FeedEntry.id)).where(FeedEntry.order_id == order.id)) or 0
    return {"pending": True, "after": after, "n": tries, "title": _platform_title(order)}


def _push_entries(order: Order, after: int) -> list[str]:
    """The lines the push job wrote in the feed since ``after``: system entries of no employee and
    no sync run ("Status sent to …", "Could not set the status on …")."""
    if not after:
        return []
    return list(db.session.scalars(select(FeedEntry.text).where(
        FeedEntry.order_id == order.id, FeedEntry.id > after, FeedEntry.kind == FeedKind.SYSTEM,
        FeedEntry.author_id.is_(None), FeedEntry.run_id.is_(None)).order_by(FeedEntry.id)))


def _platform_title(order: Order) -> str:
    return PLATFORMS[order.store.platform].title if order.store else "The shop"
