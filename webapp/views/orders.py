"""The orders table and the order page: feed, status, items and write-off."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from webapp.access import client_or_404, limit_to_my_locations, my_locations, order_or_404, order_to_change
from webapp.converters import arg_id, form_id, parse_id, refuse_id
from webapp.extensions import db
from webapp.forms.numbers import MONEY_MAX, QUANTITY_MAX, spelled
from webapp.forms.orders import CommentForm, ConfirmForm, ItemForm, NewOrderForm, StatusForm
from webapp.htmx import is_htmx, render_page_or_partial
from webapp.models import Client, FeedKind, Order, OrderType, Product, Status, Store
from webapp.models.orders import OrderLocked
from webapp.sync import status_push
from webapp.sync.delivery import last_delivery_cost
from webapp.templating import money
from webapp.views.clients import client_match, find_or_create_client
from webapp.views.notifications import mark_read

bp = Blueprint("orders", __name__, url_prefix="/orders")

SORTS = {"new": Order.created_at.desc(), "old": Order.created_at.asc()}


@bp.get("/")
def index():
    """The orders table, filtered by status, location and text; htmx swaps only the table."""
    filters = _read_filters()
    query = limit_to_my_locations(select(Order))
    query = _apply_filters(query, filters)
    query = query.options(joinedload(Order.client), joinedload(Order.status), joinedload(Order.location),
                          joinedload(Order.manager), joinedload(Order.store))
    page = db.paginate(query.order_by(SORTS[filters["sort"]], Order.id.desc()),
                       per_page=current_app.config["ORDERS_PER_PAGE"], error_out=False)
    statuses = db.session.scalars(select(Status).order_by(Status.position, Status.name)).all()
    stores = db.session.execute(select(Store.id, Store.name).where(Store.deleted_at.is_(None))
                                .order_by(Store.name)).all()
    return render_page_or_partial("orders/index.html", "orders/partials/table.html", page=page,
                                  filters=filters, statuses=statuses, locations=my_locations(), stores=stores)


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


def _apply_filters(query, filters: dict):
    if filters["status"]:
        query = query.where(Order.status_id == filters["status"])
    if filters["location"]:
        query = query.where(Order.location_id == filters["location"])
    if filters["q"]:
        query = query.join(Order.client).where(_text_match(filters["q"]))
    return _apply_store_filter(query, filters["store"])


def _apply_store_filter(query, store: str):
    if store == "office":
        return query.where(Order.store_id.is_(None))
    if store == "integrations":
        return query.where(Order.store_id.is_not(None))
    return query.where(Order.store_id == int(store)) if store else query


def _text_match(text: str):
    """Match the order number, the platform number, or the client (name, phone, e-mail)."""
    like = f"%{text}%"
    return or_(Order.number.ilike(like), Order.platform_number.ilike(like), client_match(text))


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
            "confirm_form": ConfirmForm(), "shop_total_note": shop_total_note(order)}


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


def _order_response(order: Order, partial: str = "orders/partials/order.html", **forms):
    """After a change: the swapped part for htmx, or back to the order page (POST-redirect-GET)."""
    if is_htmx():
        return render_page_or_partial("orders/detail.html", partial, **_order_context(order, **forms))
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
    flash(f"Products of order {order.number} written off.", "success")
    return _order_response(order)


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
