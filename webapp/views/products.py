"""Products: the catalogue, searchable, with a detail page, create and edit."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from webapp.access import limit_to_my_locations
from webapp.extensions import db
from webapp.forms.products import ProductForm
from webapp.htmx import render_page_or_partial
from webapp.models import Category, OrderItem, Product

bp = Blueprint("products", __name__, url_prefix="/products")


@bp.get("/")
def index():
    """All products, searchable by name, SKU, code or item number."""
    q = request.args.get("q", "").strip()[:100]
    query = select(Product).order_by(Product.name, Product.id)
    if q:
        like = f"%{q}%"
        query = query.where(or_(Product.name.ilike(like), Product.sku.ilike(like),
                                Product.code.ilike(like), Product.item_number.ilike(like)))
    page = db.paginate(query, per_page=30, error_out=False)
    return render_page_or_partial("products/index.html", "products/partials/table.html", page=page, q=q)


@bp.get("/<int:product_id>")
def detail(product_id: int):
    """One product (the catalogue is shared) and the latest orders it was sold in, of the
    employee's locations only (R-SEC-5)."""
    product = db.get_or_404(Product, product_id, description="There is no such product.")
    items = db.session.scalars(limit_to_my_locations(
        select(OrderItem).join(OrderItem.order).where(OrderItem.product_id == product.id))
        .order_by(OrderItem.id.desc()).limit(20)).all()
    return render_template("products/detail.html", product=product, items=items)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add a product to the catalogue."""
    return _edit(Product(stock=Decimal("0")), is_new=True)


@bp.route("/<int:product_id>/edit", methods=["GET", "POST"])
def edit(product_id: int):
    """Change a product."""
    return _edit(db.get_or_404(Product, product_id), is_new=False)


def _edit(product: Product, is_new: bool):
    form = ProductForm(obj=product)
    form.category_id.choices = [(0, "— none —")] + [
        (c.id, c.name) for c in db.session.scalars(select(Category).order_by(Category.name))]
    if form.validate_on_submit():
        _fill(product, form)
        if is_new:
            db.session.add(product)
        db.session.commit()
        flash(f"Product {product.name} saved.", "success")
        return redirect(url_for("products.detail", product_id=product.id))
    return render_template("products/form.html", form=form, product=product, is_new=is_new)


def _fill(product: Product, form: ProductForm) -> None:
    product.name = form.name.data.strip()
    product.description = (form.description.data or "").strip()
    for field in ("sku", "code", "item_number"):
        setattr(product, field, (getattr(form, field).data or "").strip() or None)
    product.stock = form.stock.data if form.stock.data is not None else Decimal("0")
    product.category = _category(form)


def _category(form: ProductForm) -> Category | None:
    """A typed new category is reused when one of that name exists (names are unique)."""
    name = (form.new_category.data or "").strip()
    if name:
        existing = db.session.scalar(select(Category).where(Category.name == name))
        return existing or Category(name=name)
    return db.session.get(Category, form.category_id.data) if form.category_id.data else None
