"""Clients: list with search, detail with their orders, create and edit."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from webapp.access import client_or_404, limit_to_my_clients, limit_to_my_locations, may_see_client
from webapp.extensions import db
from webapp.forms.clients import ClientForm
from webapp.htmx import render_page_or_partial
from webapp.models import Client, Order
from webapp.phones import search_digits, to_e164

bp = Blueprint("clients", __name__, url_prefix="/clients")


@bp.get("/")
def index():
    """The clients the employee may see (R-SEC-5, see access.py), searchable by name, phone or e-mail."""
    q = request.args.get("q", "").strip()[:100]
    query = limit_to_my_clients(select(Client).order_by(Client.last_name, Client.first_name, Client.id))
    if q:
        query = query.where(client_match(q))
    page = db.paginate(query, per_page=30, error_out=False)
    return render_page_or_partial("clients/index.html", "clients/partials/table.html", page=page, q=q)


def client_match(text: str):
    """Match a client by name, e-mail, or phone digits typed in any format."""
    like = f"%{text}%"
    conditions = [Client.first_name.ilike(like), Client.last_name.ilike(like), Client.email.ilike(like),
                  (Client.first_name + " " + Client.last_name).ilike(like)]
    digits = search_digits(text)
    if digits:
        conditions.append(Client.phone.like(f"%{digits}%"))
    return or_(*conditions)


@bp.get("/<int:client_id>")
def detail(client_id: int):
    """One client with the orders the employee may see."""
    client = client_or_404(client_id)
    orders = db.session.scalars(limit_to_my_locations(
        select(Order).where(Order.client_id == client.id).order_by(Order.created_at.desc()))).all()
    return render_template("clients/detail.html", client=client, orders=orders)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add a client; a phone number that is already a client's is refused, with a link to them."""
    form = ClientForm()
    if form.validate_on_submit() and _unique_contact(form):
        client = Client()
        _fill(client, form)
        db.session.add(client)
        db.session.commit()
        flash(f"Client {client.full_name} added.", "success")
        return redirect(url_for("clients.detail", client_id=client.id))
    return render_template("clients/form.html", form=form, client=None)


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
def edit(client_id: int):
    """Change a client's name and contacts (a client the employee may see, R-SEC-5)."""
    client = client_or_404(client_id)
    if client.is_not_specified:  # the page offers no Edit for it; the server refuses it too
        abort(409, description="“Not specified” stands for every buyer a shop did not name, so it cannot be "
                               "edited. To give an order its real client, create the order's client by hand.")
    form = ClientForm(obj=client, phone=client.phone_raw)
    if form.validate_on_submit() and _unique_contact(form, client):
        _fill(client, form)
        db.session.commit()
        flash("Client saved.", "success")
        return redirect(url_for("clients.detail", client_id=client.id))
    return render_template("clients/form.html", form=form, client=client)


def _fill(client: Client, form: ClientForm) -> None:
    first, last = form.first_name.data.strip(), (form.last_name.data or "").strip()
    if client.id is not None and (first, last) != (client.first_name, client.last_name):
        client.name_edited = True  # a later store sync keeps this name
    client.first_name, client.last_name = first, last
    typed = (form.phone.data or "").strip()
    if client.id is None or typed != client.phone_raw:  # R-CLI-5: unchanged, it keeps its order's reading
        client.phone_raw, client.phone = typed, to_e164(typed, current_app.config["PHONE_REGION"])
    client.email = (form.email.data or "").strip().lower() or None
    client.address = (form.address.data or "").strip()


def _unique_contact(form, current: Client | None = None) -> bool:
    """A phone belongs to one client: point at the existing one instead of making a twin."""
    if not (form.first_name.data or "").strip():  # a hand-made request may leave the field out
        form.first_name.errors.append("Enter the client's first name.")
        return False
    unchanged = current is not None and (form.phone.data or "").strip() == current.phone_raw
    phone = current.phone if unchanged else _typed_phone(form.phone)  # R-CLI-5, as in _fill
    if phone is False:
        return False
    twin = phone and db.session.scalar(select(Client).where(Client.phone == phone))
    if twin and twin is not current:
        form.phone.errors.append(f"This phone number belongs to {twin.full_name} already." if may_see_client(twin)
                                 else "This phone number belongs to another client already, one whose orders "
                                      "are at locations you have no access to. Ask an administrator.")
        return False
    return True


def _typed_phone(field) -> str | None | bool:
    """The field's phone in E.164; None when left empty; False (with an error) when unreadable."""
    typed = (field.data or "").strip()
    if not typed:
        return None
    phone = to_e164(typed, current_app.config["PHONE_REGION"])
    if phone is None:
        field.errors.append("This is not a phone number we can read. Include the country code, e.g. +49 30 1234567.")
        return False
    return phone


def find_or_create_client(form) -> Client | None:
    """The client an order form names: matched by phone or e-mail, else created.

    Returns None (with errors on the form) when nothing identifies the client."""
    phone = _typed_phone(form.phone)
    if phone is False:
        return None
    email = (form.email.data or "").strip().lower() or None
    match = None
    if phone:
        match = db.session.scalar(select(Client).where(Client.phone == phone).order_by(Client.id))
    if match is None and email:
        match = db.session.scalar(select(Client).where(func.lower(Client.email) == email).order_by(Client.id))
    if match is not None:
        return match
    if not (form.first_name.data or "").strip():
        form.first_name.errors.append("Enter the client's first name, or a phone or e-mail of an existing client.")
        return None
    client = Client(first_name=form.first_name.data.strip(), last_name=(form.last_name.data or "").strip(),
                    phone_raw=(form.phone.data or "").strip(), phone=phone, email=email)
    db.session.add(client)
    return client
