"""WooCommerce JSON -> normalized records (pure functions, no I/O).

Role in ``platforms/``: the *mapper* of the WooCommerce adapter. ``client.py`` fetches orders,
products and the category tree; this module turns them into ``RemoteOrder`` and friends,
and holds the category-tree helpers R-PRD-6 needs. Tested on the official documentation's
sample payloads (``../shared/platforms/fixtures/woocommerce``).

WooCommerce quirks handled here (woocommerce.md B1, B4, B5, B7):

* ``date_*`` are site-local without an offset; only the ``date_*_gmt`` twins are UTC (also
  without an offset), so times are read from the ``_gmt`` fields.
* ``line_items[].price`` is a JSON *number* (``get_total() / quantity``, after discounts,
  before tax) while totals are strings; ``sku`` is null when the product was deleted.
* line and product names arrive HTML-escaped ("Ship Your Idea &ndash; Color: Black");
  descriptions are HTML.
* ``shipping.phone`` exists only since WC 5.6; the phone is taken from billing, else from
  shipping (R-CLI-4).
* Delivery is not transferred (R-DEL-4): ``delivery`` is always None, the shipping lines stay
  in ``raw``.
* Statuses are slugs without the ``wc-`` prefix; unknown (plugin) ones are kept as they are.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from webapp.platforms.base import (
    RemoteBuyer, RemoteItem, RemoteOrder, RemoteStatus, clean_text, html_to_text, money,
    money_or_none, parse_platform_time,
)

# wc_get_order_statuses() without the "wc-" prefix, in WooCommerce's order (B4).
CORE_STATUSES: tuple[RemoteStatus, ...] = (
    RemoteStatus("pending", "Pending payment"),
    RemoteStatus("processing", "Processing"),
    RemoteStatus("on-hold", "On hold"),
    RemoteStatus("completed", "Completed"),
    RemoteStatus("cancelled", "Cancelled"),
    RemoteStatus("refunded", "Refunded"),
    RemoteStatus("failed", "Failed"),
)
TRASH = RemoteStatus("trash", "Trash")

# Block-checkout drafts are carts, not orders; drafts older than a day are deleted by
# WooCommerce itself (B4). They are never imported.
DRAFT_STATUSES = frozenset({"checkout-draft", "auto-draft", "draft"})

_MAX_DEPTH = 64  # category chains deeper than this are a data loop, not a real tree


# ---------------------------------------------------------------------------------------------
# Small readers
# ---------------------------------------------------------------------------------------------


def text(value: Any) -> str:
    """Plain text from WooCommerce's HTML-escaped names ("&ndash;" -> "–")."""
    return html.unescape(clean_text(value))


def object_id(value: Any) -> str:
    """An id as text; WooCommerce's 0 ("none", e.g. a deleted product) becomes ""."""
    ident = clean_text(value)
    return "" if ident in ("", "0") else ident


def gmt_time(record: Mapping[str, Any], name: str, zone: str = "UTC") -> datetime | None:
    """``record[name + "_gmt"]`` as aware UTC; falls back to the local field read in ``zone``."""
    gmt = record.get(f"{name}_gmt")
    if gmt:
        return parse_platform_time(gmt, "UTC")
    local = record.get(name)
    return parse_platform_time(local, zone) if local else None


def gmt_text(moment: datetime) -> str:
    """A UTC time the way WooCommerce writes and reads ``*_gmt``: no offset, whole seconds."""
    return parse_platform_time(moment).strftime("%Y-%m-%dT%H:%M:%S")


def is_draft(order: Mapping[str, Any]) -> bool:
    return clean_text(order.get("status")) in DRAFT_STATUSES


# ---------------------------------------------------------------------------------------------
# Categories (R-PRD-6)
# ---------------------------------------------------------------------------------------------


def category_paths(categories: Iterable[Mapping[str, Any]]) -> dict[int, tuple[str, ...]]:
    """Every category id -> its path of names from the root, from ``GET products/categories``.

    A parent missing from the list ends the path there; a loop in ``parent`` links (a
    broken database) is cut, so the function always terminates.
    """
    by_id = {int(c["id"]): c for c in categories if clean_text(c.get("id")).isdigit()}
    paths: dict[int, tuple[str, ...]] = {}
    for ident in by_id:
        names: list[str] = []
        seen: set[int] = set()
        current: int | None = ident
        while current in by_id and current not in seen and len(names) < _MAX_DEPTH:
            seen.add(current)
            names.append(text(by_id[current].get("name")))
            current = int(by_id[current].get("parent") or 0) or None
        paths[ident] = tuple(reversed(names))
    return paths


def product_categories(product: Mapping[str, Any] | None,
                       paths: Mapping[int, tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    """The product's categories as paths from the root (a product's ``categories`` list
    only names each category; the tree gives its ancestors)."""
    result = []
    for category in (product or {}).get("categories") or ():
        ident = clean_text(category.get("id"))
        path = paths.get(int(ident)) if ident.isdigit() else None
        path = path or (text(category.get("name")),)
        if any(path) and path not in result:
            result.append(path)
    return tuple(result)


def choose_category(paths: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """R-PRD-6: the one category a WooCommerce product lands in, as a path from the root.

    * categories on one chain (Clothing, Clothing > Hoodies) -> the deepest (Hoodies);
    * several on the same level -> the alphabetically first;
    * on different levels -> the more general one (the shallowest; alphabetically first
      if several share that level).

    Chains are collapsed first: a category that is an ancestor of another chosen category
    stands for that chain, so ticking a parent next to its child never overrides rule 1.
    Returns () when there are no categories.
    """
    unique = {tuple(clean_text(name) for name in path) for path in paths}
    unique = {path for path in unique if path and all(path)}
    leaves = [p for p in unique if not any(len(o) > len(p) and o[:len(p)] == p for o in unique)]
    if not leaves:
        return ()
    shallowest = min(len(path) for path in leaves)
    level = [path for path in leaves if len(path) == shallowest]
    return min(level, key=lambda path: (path[-1].casefold(), path[-1], path))


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


def map_buyer(order: Mapping[str, Any]) -> RemoteBuyer | None:
    """R-CLI-1/4: name, e-mail and phone; the phone from billing, else from shipping.

    Billing is the payer (our client) and holds the e-mail, so its phone wins when both are
    given; shops that hide billing fields often ask for the phone only with the delivery.
    The country (R-CLI-5, ISO alpha-2 in WooCommerce) is that of the details the phone came
    from, else the shipping one, else the billing one. None when the order names nobody at all
    (a guest order without details).
    """
    billing = order.get("billing") or {}
    shipping = order.get("shipping") or {}
    names = billing if (clean_text(billing.get("first_name")) or clean_text(billing.get("last_name"))) \
        else shipping
    phone_from = billing if clean_text(billing.get("phone")) else shipping
    return RemoteBuyer.of(
        first_name=text(names.get("first_name")),
        last_name=text(names.get("last_name")),
        phone=clean_text(phone_from.get("phone")),
        email=clean_text(billing.get("email")),
        country=(clean_text(phone_from.get("country")) or clean_text(shipping.get("country"))
                 or clean_text(billing.get("country"))),
    )


def _unit_price(line: Mapping[str, Any], quantity: Decimal) -> Decimal:
    price = line.get("price")
    if price is not None and price != "":
        return money(price)
    total = money(line.get("total"))  # older payloads without "price"
    return total / quantity if quantity else total


def map_item(line: Mapping[str, Any], products: Mapping[int, Mapping[str, Any]] | None = None,
             paths: Mapping[int, tuple[str, ...]] | None = None) -> RemoteItem:
    """One ``line_items[]`` entry. ``products`` (id -> ``GET products`` JSON) adds the
    description and categories; a deleted product simply has neither.

    ``product_id`` is the variation's id for a variable product (its own SKU and price are
    what was sold), else the product's id; categories and description come from the parent
    product, since variations have no categories. ``category_path`` is already the R-PRD-6
    choice among ``categories``.
    """
    quantity = money(line.get("quantity"))
    parent_id = object_id(line.get("product_id"))
    product = (products or {}).get(int(parent_id)) if parent_id else None
    description = ""
    if product:
        description = html_to_text(product.get("short_description")) or html_to_text(product.get("description"))
    categories = product_categories(product, paths or {})
    return RemoteItem(
        line_id=clean_text(line.get("id")),
        product_id=object_id(line.get("variation_id")) or parent_id,
        sku=clean_text(line.get("sku")),
        name=text(line.get("name")),
        description=description,
        category_path=choose_category(categories),
        quantity=quantity,
        price=_unit_price(line, quantity),
        categories=categories,
    )


def map_order(order: Mapping[str, Any], products: Mapping[int, Mapping[str, Any]] | None = None,
              paths: Mapping[int, tuple[str, ...]] | None = None, *, zone: str = "UTC") -> RemoteOrder:
    """One order of ``GET orders`` as a ``RemoteOrder``.

    ``zone`` is the store's time zone, only used when a ``*_gmt`` field is missing. The
    status slug is kept as it is, known or not; ``delivery`` is None (R-DEL-4) and the
    whole JSON, shipping lines included, stays in ``raw``.
    """
    created = gmt_time(order, "date_created", zone)
    if created is None:
        raise ValueError(f"WooCommerce order {order.get('id')!r} has no creation date.")
    updated = gmt_time(order, "date_modified", zone) or created
    return RemoteOrder(
        external_id=object_id(order.get("id")),
        number=clean_text(order.get("number")) or clean_text(order.get("id")),
        created_at=created,
        updated_at=updated,
        status_id=clean_text(order.get("status")),
        currency=clean_text(order.get("currency")),
        buyer=map_buyer(order),
        items=tuple(map_item(line, products, paths) for line in order.get("line_items") or ()),
        delivery=None,
        platform_total=money_or_none(order.get("total")),  # shipping, fees, taxes, discounts in
        raw=order,
    )


def product_ids(orders: Iterable[Mapping[str, Any]]) -> set[int]:
    """The (parent) product ids the orders' lines refer to; deleted ones (0) left out."""
    ids = set()
    for order in orders:
        for line in order.get("line_items") or ():
            ident = object_id(line.get("product_id"))
            if ident.isdigit():
                ids.add(int(ident))
    return ids


def statuses_from_report(rows: Iterable[Mapping[str, Any]] | None) -> list[RemoteStatus]:
    """The status list for the wizard's mapping (R-CON-5) from ``reports/orders/totals``.

    That report lists every registered status, custom ones included; ``None`` (report not
    available) gives the core list. Trash is always offered (R-IMP-2 names it; a trashed
    order is still an order), drafts never.
    """
    found = [RemoteStatus(clean_text(r.get("slug")), text(r.get("name")) or clean_text(r.get("slug")))
             for r in rows or () if isinstance(r, Mapping) and clean_text(r.get("slug"))]
    statuses = [s for s in found if s.id not in DRAFT_STATUSES]
    known = {s.id for s in statuses}
    statuses += [s for s in (*CORE_STATUSES, TRASH) if s.id not in known]
    return statuses
