"""The orders table's text search (issue 13): an order's number or platform number, or its
client's name, e-mail, or phone digits typed in any form, found as the LIKE on each of these
columns found them, but through one column per table that an index serves.

``orders.search_text`` and ``clients.search_text`` hold those fields, kept by the database
(migration 0008); on PostgreSQL a trigram index serves each. One LIKE each finds the same rows:
the text within one field before SEARCH_PHONE (the separators are characters a search never
holds), the phone's digits after it. A text with LIKE's own characters (``%``, ``_``, ``\\``)
or a separator is matched column by column, as before.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ARRAY, Integer, Select, any_, bindparam, or_, select, union

from webapp.extensions import db
from webapp.models import Client, Order
from webapp.models.orders import SEARCH_FIELD, SEARCH_PHONE
from webapp.phones import search_digits
from webapp.views.clients import client_match

UNSAFE_IN_PATTERN = ("%", "_", "\\", SEARCH_FIELD, SEARCH_PHONE)
LISTED_MATCHES = 5000
"""Up to this many orders found are named by id in the page's queries: the text is looked for
once, not again for the count."""


def text_match(text: str, narrow: Callable[[Select], Select] = lambda query: query):
    """A condition on ``Order``: the orders whose fields hold ``text``. ``narrow`` adds the
    page's other filters to a select of orders, so that the orders are looked for among those."""
    if any(ch in text for ch in UNSAFE_IN_PATTERN):
        return _match_each_column(text)
    words = f"%{text}%{SEARCH_PHONE}%"
    client_found = [_like(Client.search_text, words)]
    digits = search_digits(text)
    if digits:
        client_found.append(_like(Client.search_text, f"%{SEARCH_PHONE}%{digits}%"))
    found = union(narrow(select(Order.id).where(_like(Order.search_text, words))),
                  narrow(select(Order.id).join(Client, Client.id == Order.client_id).where(or_(*client_found))))
    ids = db.session.scalars(found.limit(LISTED_MATCHES)).all()
    if len(ids) == LISTED_MATCHES:  # a text many orders hold: looked for order by order, a page fills soon
        return or_(_like(Order.search_text, words), Order.client_id.in_(select(Client.id).where(or_(*client_found))))
    if _dialect() == "postgresql":  # one array parameter, not thousands
        return Order.id == any_(bindparam("found", ids, type_=ARRAY(Integer)))
    return Order.id.in_(ids)


def _match_each_column(text: str):
    like = f"%{text}%"
    their_client = select(Client.id).where(Client.id == Order.client_id, client_match(text)).exists()
    return or_(Order.number.ilike(like), Order.platform_number.ilike(like), their_client)


def _like(column, pattern: str):
    """``column ILIKE pattern``; on SQLite a plain LIKE, which ignores ASCII case as SQLite's
    lower() does (it knows no other), so it finds the same rows without a lower() per row."""
    return column.like(pattern) if _dialect() == "sqlite" else column.ilike(pattern)


def _dialect() -> str:
    return db.session.get_bind().dialect.name
