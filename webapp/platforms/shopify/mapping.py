"""Shopify order JSON -> normalized records; pure functions, no I/O.

Role in ``platforms/``: the Shopify "mapper". ``client.py`` fetches the REST Admin API's
JSON, ``__init__.py`` runs the flow, and this module alone knows which Shopify field becomes
which ``RemoteOrder`` / ``RemoteItem`` / ``RemoteBuyer`` / ``RemoteDelivery`` field.

Shopify has no single order status; ``derive_status`` builds one (see its docstring).
Customer data may be withheld (protected customer data; Basic plan, R-CLI-3): a withheld
field can come back null, missing or "" and every reader here treats the three alike.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from webapp.platforms.base import (
    ZERO, RemoteBuyer, RemoteDelivery, RemoteItem, RemoteOrder, RemoteStatus, clean_text,
    html_to_text, money, money_or_none, parse_platform_time,
)

# ---------------------------------------------------------------------------------------------
# Status: derived, because Shopify has none
# ---------------------------------------------------------------------------------------------

CANCELLED = "cancelled"
REFUNDED = "refunded"
FULFILLED = "fulfilled"

STATUSES: tuple[RemoteStatus, ...] = (
    RemoteStatus(CANCELLED, "Canceled"),
    RemoteStatus(REFUNDED, "Refunded"),
    RemoteStatus(FULFILLED, "Fulfilled"),
    RemoteStatus("partially_fulfilled", "Partially fulfilled"),
    RemoteStatus("partially_refunded", "Unfulfilled, partially refunded"),
    RemoteStatus("paid", "Unfulfilled, paid"),
    RemoteStatus("partially_paid", "Unfulfilled, partially paid"),
    RemoteStatus("authorized", "Unfulfilled, payment authorized"),
    RemoteStatus("pending", "Unfulfilled, payment pending"),
    RemoteStatus("voided", "Unfulfilled, payment voided"),
    RemoteStatus("open", "Unfulfilled"),
)
"""Every id ``derive_status`` can return, in its order of precedence (for display)."""

_FINANCIAL_IDS = frozenset({"partially_refunded", "paid", "partially_paid", "authorized",
                            "pending", "voided"})


def derive_status(order: Mapping[str, Any]) -> str:
    """One status id for a Shopify order, from three fields, first rule that applies:

    1. ``cancelled_at`` set                       -> "cancelled"
    2. ``financial_status`` "refunded"            -> "refunded"
    3. ``fulfillment_status`` "fulfilled"         -> "fulfilled"
    4. ``fulfillment_status`` "partial"           -> "partially_fulfilled"
    5. ``financial_status`` partially_refunded, paid, partially_paid, authorized, pending or
       voided                                     -> that value
    6. anything else (null, "expired", new values) -> "open"

    Cancellation and full refund win over fulfilment: a cancelled order that had shipped is
    still over for the shop. ``closed_at`` (archived) is ignored: Shopify archives fulfilled
    orders by itself, and an archived unfulfilled order still needs work. Rules 1-3 are the
    ids R-IMP-2 excludes from the initial import. "restocked" falls through to the payment
    state: it follows a cancel or refund, which rules 1-2 already caught.
    """
    financial = clean_text(order.get("financial_status")).lower()
    fulfillment = clean_text(order.get("fulfillment_status")).lower()
    if clean_text(order.get("cancelled_at")):
        return CANCELLED
    if financial == "refunded":
        return REFUNDED
    if fulfillment == "fulfilled":
        return FULFILLED
    if fulfillment == "partial":
        return "partially_fulfilled"
    return financial if financial in _FINANCIAL_IDS else "open"


# ---------------------------------------------------------------------------------------------
# Products: the description and category Shopify keeps on the product, not the order line
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductInfo:
    """What ``products.json`` adds to an order line: plain-text description, category."""

    description: str = ""
    category: str = ""


def product_info(product: Mapping[str, Any]) -> ProductInfo:
    """``body_html`` as plain text and ``product_type`` (our single category, R-PRD-5)."""
    return ProductInfo(html_to_text(product.get("body_html")), clean_text(product.get("product_type")))


# ---------------------------------------------------------------------------------------------
# Buyer, address, delivery
# ---------------------------------------------------------------------------------------------


def _section(order: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, or {} when withheld: null, missing, "" or not an object at all."""
    value = order.get(key)
    return value if isinstance(value, Mapping) else {}


def _first(*values: Any) -> str:
    return next((text for text in map(clean_text, values) if text), "")


def format_address(address: Mapping[str, Any], *, with_name: bool = False) -> str:
    """One line: "[Name, ][Company, ]street, street 2, city, province, zip, country"."""
    parts = [address.get("name") or " ".join(
        filter(None, (clean_text(address.get("first_name")), clean_text(address.get("last_name")))))
    ] if with_name else []
    parts += [address.get(key) for key in ("company", "address1", "address2", "city")]
    parts += [address.get("province") or address.get("province_code"), address.get("zip"),
              address.get("country") or address.get("country_name") or address.get("country_code")]
    return ", ".join(text for text in map(clean_text, parts) if text)


def buyer_from_json(order: Mapping[str, Any]) -> RemoteBuyer | None:
    """The buyer (R-CLI-1), with the shipping address kept (R-CLI-3); None when withheld.

    Each field takes the first non-empty of: the customer, the order's own contact fields,
    the billing address (the payer), the shipping address. The address is the shipping
    address, else the customer's default one, else the billing one. The country (R-CLI-5,
    ``country_code``) is that of the address the phone came from, else the shipping, billing
    or default address's. On the Basic plan all of these come back empty and the buyer is None
    ("Not specified").
    """
    customer = _section(order, "customer")
    billing, shipping = _section(order, "billing_address"), _section(order, "shipping_address")
    default = _section(customer, "default_address")
    phones = ((customer, {}), (order, {}), (billing, billing), (shipping, shipping), (default, default))
    phone, phone_address = next(((clean_text(where.get("phone")), address) for where, address in phones
                                 if clean_text(where.get("phone"))), ("", {}))
    return RemoteBuyer.of(
        first_name=_first(customer.get("first_name"), billing.get("first_name"),
                          shipping.get("first_name")),
        last_name=_first(customer.get("last_name"), billing.get("last_name"),
                         shipping.get("last_name")),
        phone=phone,
        email=_first(customer.get("email"), order.get("email"), order.get("contact_email")),
        address=_first(format_address(shipping), format_address(default), format_address(billing)),
        country=_first(*(where.get("country_code") for where in (phone_address, shipping, billing, default))),
    )


def delivery_from_json(order: Mapping[str, Any]) -> RemoteDelivery | None:
    """Delivery (R-DEL-1) from ``shipping_lines`` and the shipping address; None when the
    order has no shipping line (a digital product, a POS sale, a manual order that carries the
    buyer's address but no rate): there is no delivery to describe.

    Method: the lines' titles; cost: the sum of their prices before shipping discounts,
    in the shop's currency. A line with a ``carrier_identifier`` was priced by a carrier
    service; without one it is one of the shop's own rates, so ``is_own_method`` is True only
    when no line came from a carrier.
    """
    lines = [line for line in order.get("shipping_lines") or () if isinstance(line, Mapping)]
    if not lines:
        return None
    address = format_address(_section(order, "shipping_address"), with_name=True)
    cost = sum((money(line.get("price")) for line in lines), ZERO)
    return RemoteDelivery(
        method_name=", ".join(_first(line.get("title"), line.get("code")) for line in lines),
        cost=cost,
        recipient_address=address,
        is_own_method=not any(clean_text(line.get("carrier_identifier")) for line in lines),
    )


# ---------------------------------------------------------------------------------------------
# Items and the order
# ---------------------------------------------------------------------------------------------


def quantity_now(line: Mapping[str, Any]) -> Decimal:
    """The line's quantity after order edits and refunds (R-IMP-4).

    Shopify keeps ``quantity`` as first ordered and lowers ``current_quantity`` when items
    are removed or refunded; old payloads have no ``current_quantity``. A line removed
    entirely stays, with quantity 0, so that ``sync/`` can see the removal.
    """
    return money(current_value(line, "quantity"))


def current_value(record: Mapping[str, Any], key: str) -> Any:
    """``current_<key>`` (after edits and refunds) when the payload has it, else ``key``."""
    current = record.get(f"current_{key}")
    return record.get(key) if current is None or current == "" else current


def item_from_json(line: Mapping[str, Any],
                   products: Mapping[str, ProductInfo] | None = None) -> RemoteItem:
    """One order line. ``product_id`` is null when the product was deleted; the line still
    imports by its name and SKU. ``name`` is the line's full name (product and variant)."""
    product_id = clean_text(line.get("product_id"))
    info = (products or {}).get(product_id) if product_id else None
    info = info or ProductInfo()
    return RemoteItem(
        line_id=clean_text(line.get("id")),
        product_id=product_id,
        sku=clean_text(line.get("sku")),
        name=_first(line.get("name"), line.get("title")),
        description=info.description,
        category_path=(info.category,) if info.category else (),
        quantity=quantity_now(line),
        price=money(line.get("price")),
    )


def product_ids(orders: Iterable[Mapping[str, Any]]) -> set[str]:
    """Ids of the products the orders' lines refer to (for ``products.json?ids=``)."""
    return {pid for order in orders for line in order.get("line_items") or ()
            if isinstance(line, Mapping) and (pid := clean_text(line.get("product_id")))}


def order_from_json(order: Mapping[str, Any],
                    products: Mapping[str, ProductInfo] | None = None) -> RemoteOrder:
    """A Shopify order (``orders.json`` element) as a ``RemoteOrder``.

    ``number`` is ``name`` ("#1001", what the admin shows); amounts are the shop-currency
    ``price`` fields, so ``currency`` is the order's ``currency`` (not the presentment one).
    ``updated_at`` falls back to ``created_at``. Raises ValueError/TypeError on a payload
    without an id or valid times.
    """
    created = parse_platform_time(order.get("created_at") or "")
    updated = order.get("updated_at")
    return RemoteOrder(
        external_id=clean_text(order.get("id")),
        number=_first(order.get("name"), order.get("order_number"), order.get("id")),
        created_at=created,
        updated_at=parse_platform_time(updated) if clean_text(updated) else created,
        status_id=derive_status(order),
        currency=clean_text(order.get("currency")),
        buyer=buyer_from_json(order),
        items=tuple(item_from_json(line, products) for line in order.get("line_items") or ()
                    if isinstance(line, Mapping)),
        delivery=delivery_from_json(order),
        platform_total=total_now(order),
        raw=order,
    )


def total_now(order: Mapping[str, Any]) -> Decimal | None:
    """The shop's own total (shipping, taxes, discounts in): ``current_total_price`` after
    order edits and refunds, as ``quantity_now`` reads the lines; else ``total_price``."""
    return money_or_none(current_value(order, "total_price"))

