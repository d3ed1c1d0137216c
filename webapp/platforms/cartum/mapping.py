"""Cartum JSON -> Orderdock's normalized records. Pure functions: no I/O, no clock.

Role in ``platforms/``: the *mapper* of the Cartum adapter (``client.py`` talks,
``__init__.py`` runs the flow). Field meanings follow the fact sheet
(``shared/platforms/cartum.md`` A.3-A.6); where a fact is unverified the reader is
tolerant (missing, null and "" are alike; numbers may come as strings).

The decisions made here, each with its reason:

* ``order_id`` (the order *number*, not the admin record id) is the external id.
* ``stat_created`` has no UTC offset: it is read in the store's time zone (``timezone``
  option, default ``DEFAULT_TIMEZONE``). Cartum has no modification time, so
  ``updated_at`` is the creation time; ``RULES.tracks_updates`` is False for that reason.
* ``delivery_name`` is one free-text field; ``split_name`` states the rule that splits it.
* ``delivery_price`` of -1 means "calculated at the carrier's rates": the cost is None.
* R-DEL-3: ``is_own_delivery`` says whether the method is the shop's own (see its docstring).
* R-PRD-3: a line's ``article`` is ``RemoteItem.sku`` (RULES puts it in *Item number*);
  Cartum order lines carry no product id, so ``product_id`` is "".
* The shop's own total is ``total_sum``: the lines after order-level discounts, **without
  delivery** (fact sheet A.3); ``total_default`` is before those discounts.
* R-PRD-8: names, descriptions and the category come from ``catalog/export`` in the
  store's language when the adapter looked the article up; otherwise the line's own
  ``title`` (the language the buyer ordered in) is the name.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from webapp.platforms.base import (
    CENT, ZERO, RemoteBuyer, RemoteDelivery, RemoteItem, RemoteOrder, RemoteStatus, clean_text,
    html_to_text, money, money_or_none, parse_platform_time,
)

DEFAULT_TIMEZONE = "Europe/Kyiv"
"""Cartum is Horoshop's international brand; its stores' clocks are Kyiv's unless told."""

DEFAULT_COUNTRY = "UA"
"""R-CLI-5: orders carry no country (fact sheet A.3: no field for it), so a phone written
without its country code is read in the store's country, Ukraine unless told."""

DELIVERED = "3"
"""The built-in "Delivered" status (fact sheet A.4); R-IMP-2 skips it in the initial import."""

BUILT_IN_STATUSES = (
    RemoteStatus("1", "New"),
    RemoteStatus("2", "In process"),
    RemoteStatus("3", "Delivered"),
    RemoteStatus("4", "Not delivered"),
    RemoteStatus("6", "Delivering"),
)
"""The five statuses every store has (there is no 5); used when the store is older than
v4.0 and answers UNDEFINED_FUNCTION to ``orders/get_available_statuses``."""

NOT_CALCULATED = Decimal("-1")

# Store language keys are Cartum's own two-letter codes: Ukrainian is "ua", not "uk".
_LANGUAGE_ALIASES = {"uk": "ua", "ua": "uk"}
_FALLBACK_LANGUAGE = "en"


# ---------------------------------------------------------------------------------------------
# Texts in several languages
# ---------------------------------------------------------------------------------------------


def localized(value: Any, language: str = "") -> str:
    """A text Cartum gives either as a plain string or as ``{"en": ..., "ro": ...}``.

    Order of preference: ``language`` (with "uk"/"ua" as one), English, then the first
    non-empty text in the order the store sent. A language switched off in the store comes
    back as "", so an empty translation falls through to the next one.
    """
    if not isinstance(value, Mapping):
        return clean_text(value) if isinstance(value, (str, int, float)) else ""
    wanted = [language, _LANGUAGE_ALIASES.get(language, ""), _FALLBACK_LANGUAGE]
    for key in [k for k in wanted if k] + list(value):
        text = value.get(key)
        if isinstance(text, (str, int, float)) and clean_text(text):
            return clean_text(text)
    return ""


# ---------------------------------------------------------------------------------------------
# Buyer and the name rule
# ---------------------------------------------------------------------------------------------

_PATRONYMIC = re.compile(
    r"(ович|евич|йович|ьович|івна|ївна|овна|евна|ична|ovych|ovich|evych|evich|ivna|ovna|evna|ychna)$",
    re.IGNORECASE)
_SURNAME_ENDINGS = (
    "енко", "чук", "ук", "юк", "ський", "цький", "ська", "цька", "ов", "ова", "ев", "ева", "єв",
    "єва", "enko", "chuk", "uk", "yuk", "skyi", "skyy", "ska", "ov", "ova", "ev", "eva",
)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def looks_like_surname(word: str) -> bool:
    """True when ``word`` ends like a Ukrainian/Russian surname (Шевченко, Ковальчук, Petrova).

    The word must be at least two letters longer than the ending, so short given names that
    happen to end the same way ("Лев", "Єва") are not taken for surnames.
    """
    low = word.lower()
    return any(low.endswith(end) and len(low) >= len(end) + 2 for end in _SURNAME_ENDINGS)


def split_name(full_name: Any) -> tuple[str, str]:
    """Split Cartum's one ``delivery_name`` into (first name, last name).

    The rule, in order (the first that applies wins):

    1. Blank -> ("", ""). One word -> it is the first name, the last name is "".
    2. Three words with a patronymic (-ович, -івна, -ovych, ...): the patronymic stays with
       the given name. Last word a patronymic -> "Surname Given Patronymic" (the official
       East Slavic order); middle word -> "Given Patronymic Surname".
    3. The first word ends like a surname (-енко, -чук, -ський, -ова, ... see
       ``looks_like_surname``) and the last word does not -> "Surname Given...".
    4. Cyrillic, and the last word does not end like a surname -> "Surname Given...": the
       order of Ukrainian checkout forms and carrier waybills, as in the fact sheet's
       "Шевченко Тарас".
    5. Otherwise -> "Given Surname...": the first word is the first name and the rest is the
       last name, so "Anna von der Leyen" keeps "von der Leyen" whole.

    Nothing is dropped: first + " " + last always gives the words back. The rule guesses
    wrong on some names (pitfalls.md #12); ``sync/`` must not overwrite a name an employee
    corrected.
    """
    words = clean_text(full_name).split()
    if not words:
        return "", ""
    if len(words) == 1:
        return words[0], ""
    if len(words) == 3 and _PATRONYMIC.search(words[2]):
        return f"{words[1]} {words[2]}", words[0]
    if len(words) == 3 and _PATRONYMIC.search(words[1]):
        return f"{words[0]} {words[1]}", words[2]
    first_is_surname, last_is_surname = looks_like_surname(words[0]), looks_like_surname(words[-1])
    cyrillic = bool(_CYRILLIC.search(" ".join(words)))
    if (first_is_surname and not last_is_surname) or (cyrillic and not last_is_surname):
        return " ".join(words[1:]), words[0]
    if cyrillic:  # last word is the surname: "Тарас Шевченко"
        return " ".join(words[:-1]), words[-1]
    return words[0], " ".join(words[1:])


def buyer(order: Mapping[str, Any]) -> RemoteBuyer | None:
    """R-CLI-1: the recipient as the buyer; None for a guest order with no name or contact.

    ``user`` is not used: it is nearly unique per order (guest checkouts), so clients are
    matched by phone (``RULES.client_match_keys``). The phone stays raw for ``sync/``. No
    country: Cartum orders name none, so the store's country reads the phone (R-CLI-5).
    """
    first, last = split_name(order.get("delivery_name"))
    return RemoteBuyer.of(first_name=first, last_name=last, phone=clean_text(order.get("delivery_phone")),
                          email=clean_text(order.get("delivery_email")))


# ---------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------

_CARRIER_NAMES = re.compile(
    r"nova\s*po[sš]hta|нова\s*пошта|новая\s*почта|ukr\s*po[sš]hta|укр\s*пошта|укрпочта|meest|"
    r"міст\s*експрес|justin|джастін|rozetka\s*delivery|розетка\s*доставка|np\s*shopping",
    re.IGNORECASE)
_CARRIER_DATA_KEYS = ("deliveryOperatorType", "tnNumber", "tnId")


def delivery_cost(value: Any) -> Decimal | None:
    """``delivery_price``: -1 (or any negative) means "not calculated" -> None."""
    cost = money_or_none(value)
    return None if cost is None or cost < ZERO else cost


def is_own_delivery(order: Mapping[str, Any]) -> bool:
    """R-DEL-3: True when the order uses one of the shop's own delivery methods.

    Cartum's carrier integrations (Nova Poshta, Ukrposhta, Meest, Justin, Rozetka Delivery)
    fill the ``delivery_data`` block with the operator and the waybill (fact sheet A.3:
    ``deliveryOperatorType``, ``tnNumber``, ``tnId``); a method the shop set up itself
    (its courier, pickup) leaves it empty, as in the fact sheet's "Власна доставка" example.
    So the method is built in when ``delivery_data`` names an operator or a waybill, or when
    its title names one of those carriers (an order whose waybill block is not filled yet);
    every other method is the shop's own.
    """
    data = order.get("delivery_data")
    if isinstance(data, Mapping) and any(clean_text(data.get(key)) for key in _CARRIER_DATA_KEYS):
        return False
    return not _CARRIER_NAMES.search(delivery_method_name(order))


def delivery_method_name(order: Mapping[str, Any], language: str = "") -> str:
    kind = order.get("delivery_type")
    return localized(kind.get("title"), language) if isinstance(kind, Mapping) else localized(kind, language)


def recipient_address(order: Mapping[str, Any]) -> str:
    """City and address as one line; Ukrposhta addresses arrive split by "@"."""
    city = clean_text(order.get("delivery_city")) or clean_text(order.get("delivery_city_stable"))
    parts = [clean_text(part) for part in clean_text(order.get("delivery_address")).split("@")]
    address = ", ".join(part for part in parts if part)
    if city and city.casefold() not in address.casefold():
        return f"{city}, {address}" if address else city
    return address


def delivery(order: Mapping[str, Any], language: str = "") -> RemoteDelivery | None:
    """R-DEL-1: method, cost and address for the event-feed comment; None when there is none."""
    name = delivery_method_name(order, language)
    address = recipient_address(order)
    if not name and not address:
        return None
    return RemoteDelivery(method_name=name, cost=delivery_cost(order.get("delivery_price")),
                          recipient_address=address, is_own_method=is_own_delivery(order))


# ---------------------------------------------------------------------------------------------
# Catalogue entries and order lines
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """What ``catalog/export`` says about one article, in the store's chosen language."""

    name: str
    description: str
    category_path: tuple[str, ...]


def category_path(parent: Any, language: str = "") -> tuple[str, ...]:
    """The product's category from ``catalog/export``'s ``parent``, as a path from the root.

    The shape is not documented (fact sheet A.6: "id + path/title", to check on a real
    store), so this accepts a string path ("Phones/Cases"), or an object whose ``title``
    or ``value`` is a string path or a ``{lang: name}`` object (``title`` first: it is the
    per-language one). The path is split on "/" as Cartum writes category paths.
    """
    if isinstance(parent, Mapping):
        for key in ("title", "value", "path", "name"):
            text = localized(parent.get(key), language)
            if text:
                return _split_path(text)
        return ()
    return _split_path(parent) if isinstance(parent, str) else ()  # a bare id names nothing


def _split_path(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("/") if part.strip())


def catalog_entries(products: Iterable[Any], language: str = "") -> dict[str, CatalogEntry]:
    """``catalog/export``'s ``products`` keyed by article (R-PRD-3, R-PRD-8)."""
    entries: dict[str, CatalogEntry] = {}
    for product in products:
        if not isinstance(product, Mapping) or not clean_text(product.get("article")):
            continue
        description = localized(product.get("description"), language) or localized(
            product.get("short_description"), language)
        entries[clean_text(product["article"])] = CatalogEntry(
            name=localized(product.get("title"), language),
            description=html_to_text(description),
            category_path=category_path(product.get("parent"), language))
    return entries


def line_articles(orders: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every article on the orders' lines (for one ``catalog/export`` look-up)."""
    return {clean_text(line.get("article")) for order in orders for line in _lines(order)
            if clean_text(line.get("article"))}


def _lines(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    products = order.get("products")
    if isinstance(products, Mapping):
        products = list(products.values())
    return [line for line in products or () if isinstance(line, Mapping)]


def unit_price(line: Mapping[str, Any]) -> Decimal:
    """The line's unit price, so that quantity x price is what the buyer pays for the line.

    ``price`` already has the product discount. Gifts and bundle parts can carry a list
    ``price`` while their ``total_price`` is 0 (fact sheet A.3); when ``total_price``
    disagrees with price x quantity by more than a cent, the total wins and the unit price
    is total / quantity, to the cent.
    """
    price, quantity = money(line.get("price")), money(line.get("quantity"))
    total = money_or_none(line.get("total_price"))
    if total is None or quantity <= ZERO or abs(price * quantity - total) <= CENT:
        return price
    return (total / quantity).quantize(CENT, ROUND_HALF_UP)


def _line_key(line: Mapping[str, Any]) -> str:
    base = (clean_text(line.get("article")) or clean_text(line.get("storage_id"))
            or localized(line.get("title")))
    kind = clean_text(line.get("type"))
    return f"{base}:{kind}" if kind and kind != "product" else base


def items(order: Mapping[str, Any], catalog: Mapping[str, CatalogEntry | None] | None = None,
          language: str = "") -> tuple[RemoteItem, ...]:
    """R-ORD-6, R-PRD-1..8: the order's lines, enriched from ``catalog`` by article.

    ``line_id`` is the article (or the storage id, or the title) plus the line type for
    gifts and bundle parts, with "#2", "#3" for repeats: stable while quantities change,
    which is what R-IMP-4 needs to find the line again.
    """
    catalog = catalog or {}
    seen: dict[str, int] = {}
    result = []
    for line in _lines(order):
        key = _line_key(line)
        seen[key] = seen.get(key, 0) + 1
        article = clean_text(line.get("article"))
        entry = catalog.get(article) if article else None
        result.append(RemoteItem(
            line_id=key if seen[key] == 1 else f"{key}#{seen[key]}",
            product_id="",
            sku=article,
            name=(entry.name if entry and entry.name else localized(line.get("title"), language)),
            description=entry.description if entry else "",
            category_path=entry.category_path if entry else (),
            quantity=money(line.get("quantity")),
            price=unit_price(line)))
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Orders and statuses
# ---------------------------------------------------------------------------------------------


def created_at(order: Mapping[str, Any], zone: str = DEFAULT_TIMEZONE) -> datetime:
    """``stat_created`` ("YYYY-MM-DD HH:MM:SS", no offset) read in the store's zone, as UTC."""
    return parse_platform_time(clean_text(order.get("stat_created")), zone)


def order(raw: Mapping[str, Any], *, zone: str = DEFAULT_TIMEZONE, language: str = "",
          catalog: Mapping[str, CatalogEntry | None] | None = None) -> RemoteOrder:
    """One ``orders/get`` order as a ``RemoteOrder``. Raises ValueError on a broken order."""
    number = clean_text(raw.get("order_id"))
    created = created_at(raw, zone)
    return RemoteOrder(
        external_id=number, number=number, created_at=created, updated_at=created,
        status_id=clean_text(raw.get("stat_status")), currency=clean_text(raw.get("currency")),
        buyer=buyer(raw), items=items(raw, catalog, language), delivery=delivery(raw, language),
        platform_total=money_or_none(raw.get("total_sum")), raw=dict(raw))


def statuses(response: Any, language: str = "") -> list[RemoteStatus]:
    """``orders/get_available_statuses``: an object keyed by id (a list is accepted too)."""
    found = response.get("statuses") if isinstance(response, Mapping) else None
    entries = found.values() if isinstance(found, Mapping) else found or ()
    result = []
    for entry in entries:
        if isinstance(entry, Mapping) and clean_text(entry.get("id")):
            name = localized(entry.get("title"), language) or f"Status {clean_text(entry['id'])}"
            result.append(RemoteStatus(clean_text(entry["id"]), name))
    return result
