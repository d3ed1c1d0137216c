"""Delivery details as event-feed comments (R-DEL-1..4).

Role in ``sync/``: the importer hands each order's ``RemoteDelivery`` here; this module
decides, from ``PlatformRules`` alone, whether the platform's delivery is transferred at all
(WooCommerce: no, R-DEL-4) and only for the shop's own methods (Cartum, R-DEL-3), and posts a
new ``FeedKind.DELIVERY`` comment only when method, cost or address differ from the order's
latest delivery comment (R-DEL-2). The comment's text is its own fingerprint, so no column
is needed to remember what was posted; each comment names the sync run that brought it (R-REL-4),
and the order page reads the cost back from it to explain the shop's own total.
"""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import FeedEntry, FeedKind, Order
from webapp.platforms.base import PlatformRules, RemoteDelivery

NOT_GIVEN = "—"
_COST = re.compile(r"^Delivery: .*?, cost (\d+\.\d{2}) [A-Z]{3}, to ")


def is_transferred(rules: PlatformRules, delivery: RemoteDelivery | None) -> bool:
    """R-DEL-1/3/4: does this platform's delivery become a comment? Never without a delivery: an
    address with neither method nor cost is where the buyer is, and "Delivery: —, cost not
    calculated" would describe nothing (whatever an adapter passed on)."""
    if delivery is None or not rules.delivery_transferred or not delivery.is_delivery:
        return False
    return delivery.is_own_method or not rules.delivery_only_own_method


def delivery_text(delivery: RemoteDelivery, currency: str) -> str:
    """The comment, e.g. "Delivery: Courier, cost 5.00 EUR, to Kyiv, Main St 1"."""
    return (f"Delivery: {delivery.method_name or NOT_GIVEN}, cost {cost_text(delivery.cost, currency)}, "
            f"to {delivery.recipient_address or NOT_GIVEN}")


def cost_text(cost: Decimal | None, currency: str) -> str:
    # None is Cartum's -1: the carrier prices it later, which is not the same as free.
    return "not calculated" if cost is None else f"{cost:.2f} {currency}"


def last_delivery_text(order: Order) -> str | None:
    """The text of the order's latest delivery comment, None if there is none yet."""
    if order.id is None:
        return None
    query = (select(FeedEntry.text).where(FeedEntry.order_id == order.id, FeedEntry.kind == FeedKind.DELIVERY)
             .order_by(FeedEntry.id.desc()).limit(1))
    return db.session.scalar(query)


def last_delivery_cost(order: Order) -> Decimal | None:
    """The delivery cost of the order's latest delivery comment; None if none or not calculated."""
    found = _COST.match(last_delivery_text(order) or "")
    return Decimal(found.group(1)) if found else None


UNKNOWN = object()
"""``post_delivery``'s ``last`` when the caller did not read the latest comment already."""


def post_delivery(order: Order, delivery: RemoteDelivery | None, rules: PlatformRules,
                  run_id: int | None = None, last: str | None | object = UNKNOWN) -> bool:
    """Add a delivery comment, by sync run ``run_id``, when the details are new or changed
    (R-DEL-2, R-REL-4); True if added. ``last``: the order's latest delivery comment, when the
    caller read it already (None: there is none)."""
    if not is_transferred(rules, delivery):
        return False
    text = delivery_text(delivery, order.currency)
    if text == (last_delivery_text(order) if last is UNKNOWN else last):
        return False
    order.note(FeedKind.DELIVERY, text, run_id=run_id)
    return True
