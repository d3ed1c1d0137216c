"""A loopback WooCommerce store speaking the REST API v3 contract (../shared/platforms/woocommerce.md).

API routes (all under ``/wp-json/wc/v3``; lists are bare JSON arrays with ``X-WP-Total``,
``X-WP-TotalPages`` and a ``Link`` header with ``prev`` / ``next``):

* ``GET orders`` — ``page``, ``per_page`` (1..100, default 10), ``offset``, ``include`` /
  ``exclude`` (comma list or ``include[]=``), ``status`` (``any`` by default = every status but
  ``trash``; a comma list or ``status[]=``), ``after`` / ``before`` (created) and
  ``modified_after`` / ``modified_before`` (exclusive bounds; compared with the ``*_gmt`` times
  when ``dates_are_gmt=true``, else with the site-local ones), ``orderby``
  (date | id | include | modified | title | slug), ``order`` (asc | desc, default desc);
  ties are broken by id.
* ``GET orders/<id>``; ``PUT|POST|PATCH orders/<id>`` with ``{"status": ...}`` (one of the
  registered statuses, else 400 ``rest_invalid_param``; unknown id → 400
  ``woocommerce_rest_shop_order_invalid_id``, 404 for GET).
* ``GET products`` (``include``, ``sku``, ``category``, paging), ``GET products/<id>``,
  ``GET products/categories`` (``parent``, ``hide_empty``, paging, ordered by name).
* ``GET reports/orders/totals`` — ``[{slug, name, total}]`` for every registered status.
* ``GET|POST webhooks``, ``GET|PUT|POST|PATCH|DELETE webhooks/<id>`` as the webhooks
  controller answers (``{name, topic, delivery_url, secret, status}``; the answer has no
  secret; a new webhook is saved active whatever ``status`` says, then pinged inside the
  create request: ``webhook_id=<id>`` form-encoded, unsigned, its answer ignored; DELETE
  needs ``force=true``, else 501 ``woocommerce_rest_trash_not_supported``; an unknown id is
  400 "ID is invalid." to GET and PUT, 404 "Invalid ID." to DELETE). Valid topics:
  ``{coupon,customer,order,product}.{created,updated,deleted,restored}`` and ``action.*``;
  only ``order.*`` are sent. Deliveries and the ``/_sim/webhooks`` switches:
  ``simulators.webhooks``.
* anything else under ``/wp-json/`` → 404 ``rest_no_route``.

Errors are WooCommerce's envelope ``{"code", "message", "data": {"status"}}``.

Authentication, checked before routing as WordPress does (woocommerce.md B2):

* OAuth 1.0a one-legged, parameters in the query string (or an ``Authorization: OAuth``
  header): the signature (HMAC-SHA1 or HMAC-SHA256, key ``secret&``) is recomputed with
  ``oauthlib`` over the PHP-parsed query (last duplicate wins, as ``$_GET``); timestamps must be
  within 15 minutes and nonces unused. Failures answer 401
  ``woocommerce_rest_authentication_error`` with WooCommerce's messages, or
  ``woocommerce_rest_authentication_missing_parameter``.
* HTTP Basic and ``?consumer_key=&consumer_secret=`` (what WooCommerce accepts over https),
  unless ``basic_auth=0``. An unknown key is ignored, as WooCommerce does, and the request goes
  on unauthenticated to ``woocommerce_rest_cannot_view`` (401); a known key with a wrong
  secret gets "Consumer secret is invalid." and a ``WWW-Authenticate`` header.
* The key's permissions: GET needs read, writes need write ("The API key provided does not
  have write permissions.").

Options (``create_app`` keywords; ``python -m simulators woocommerce --option k=v``):

* ``orders`` (200), ``seed`` (1): the seeded shop; the same seed gives the same shop.
* ``consumer_key`` / ``consumer_secret``: the store's one key (default ``CONSUMER_KEY`` /
  ``CONSUMER_SECRET`` below); ``permissions``: read | write | read_write (default).
* ``basic_auth``: 1 (default) or 0 = a plain-http store where only OAuth 1.0a works.
* ``currency`` (EUR), ``timezone`` (Europe/Kyiv, for the site-local ``date_*`` fields),
  ``now`` (ISO time the seeded data ends at; default: when the app starts).
* ``no_api=1``: WooCommerce inactive, every ``/wp-json/wc/`` route is ``rest_no_route``;
  ``plain_permalinks=1``: ``/wp-json/`` is not routed and WordPress's HTML 404 page answers;
  ``reports=0``: no ``reports/orders/totals`` route.
* ``rate_limit``: "N/S" = at most N API requests per S seconds, else 429 with Retry-After.
* webhooks (``simulators.webhooks``): ``hook_timeout_seconds`` (60, WooCommerce's).
  WooCommerce retries nothing; ``hook_retry_seconds`` does not apply.

Control API (JSON bodies), besides ``common``'s requests / faults / stats / rate-limit:

* ``GET /_sim/orders`` — ``[{id, status, currency, date_created_gmt, date_modified_gmt}]``.
* ``GET /_sim/orders/<id>`` — one order as the API shows it, whatever its status.
* ``POST /_sim/orders`` — add orders: ``{"count": 1, "status": "processing", "currency": ...,
  "created": "<ISO, GMT if no offset>", "contact": "full" | "shipping_phone" | "email_only" |
  "phone_only" | "name_only" | "guest", "billing": {...}, "shipping": {...},
  "items": [{"product_id": 101, "variation_id": 0, "quantity": 2}]}`` (all optional; ``items:
  []`` adds an order without products) → ``{"ids": [...], "orders": [...]}``.
* ``POST /_sim/orders/<id>/items/<line_id>`` ``{"quantity": 3}`` — change a line's quantity
  (totals recomputed).
* ``POST /_sim/orders/<id>/status`` ``{"status": "..."}`` — any slug, even one no plugin
  registered (to see unknown statuses tolerated).
* ``GET /_sim/`` — the "demo shop control" HTML page (``common.install_demo_page``): add an
  order; per order Quantity +1 and Next status (processing <-> on-hold). No delivery button:
  Orderdock does not take WooCommerce's shipping over. It shows the Website URL and the key to
  connect the shop with; option ``spare=1`` says it is not connected (`make run`'s spare shop).
Every change moves ``date_modified`` forward, as WooCommerce's save does, and sends its
webhooks: a new order ``order.created``, a change ``order.updated``, a status set to ``trash``
``order.deleted``, out of ``trash`` ``order.restored`` and ``order.updated``.

Seeded data: orders over the last 90 days in every status (the core ones, ``trash``,
``checkout-draft`` and the custom ``awaiting-shipment``); returning buyers (``common.people``)
with phones written in different formats, in billing or only in shipping; guests without any
contact; orders with only an e-mail, only a phone, only a name; orders without products; orders
in another currency; discounts; variations; lines of a deleted product (``sku`` null); orders
sharing one creation second; ids with gaps. Products carry SKUs (one has none) and categories
that cover R-PRD-6: one chain, several on one level, several on different levels.
"""
from __future__ import annotations

import bisect
import hashlib
import hmac
import html
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request
from oauthlib.oauth1 import Client as OAuthClient
from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from simulators import common, webhooks

API = "/wp-json/wc/v3"
CONSUMER_KEY = "ck_" + hashlib.sha1(b"orderdock woocommerce simulator key").hexdigest()
CONSUMER_SECRET = "cs_" + hashlib.sha1(b"orderdock woocommerce simulator secret").hexdigest()
UTC = timezone.utc
CENT = Decimal("0.01")
OAUTH_WINDOW = 15 * 60

# Registered statuses (wc_get_order_statuses without "wc-"), a Blocks draft and a plugin's.
STATUSES = {
    "pending": "Pending payment", "processing": "Processing", "on-hold": "On hold",
    "completed": "Completed", "cancelled": "Cancelled", "refunded": "Refunded", "failed": "Failed",
    "checkout-draft": "Draft", "awaiting-shipment": "Awaiting shipment",
}
PAID = {"processing", "completed", "refunded", "awaiting-shipment", "on-hold"}
DEMO_STATUSES = ("processing", "on-hold")  # the open statuses the demo page's button cycles
CLOSED_STATUSES = ("completed", "cancelled", "refunded", "failed", "trash")
STATUS_WEIGHTS = {"processing": 30, "completed": 25, "pending": 10, "on-hold": 8, "cancelled": 7,
                  "refunded": 4, "failed": 4, "trash": 3, "awaiting-shipment": 5, "checkout-draft": 2}

# (id, name, parent). Two roots deep enough for chains, siblings for same-level choices.
CATEGORIES = [
    (15, "Uncategorized", 0), (20, "Phones", 0), (21, "Smartphones", 20), (22, "Android", 21),
    (23, "iPhone", 21), (24, "Accessories", 20), (25, "Cases", 24), (26, "Chargers", 24),
    (30, "Laptops", 0), (31, "Ultrabooks", 30), (32, "Gaming laptops", 30), (40, "Spare parts", 0),
    (41, "Screens", 40), (42, "Batteries", 40), (50, "Sale", 0), (51, "Gift cards", 0),
]
# (id, name, sku, price, category ids, variations [(id, sku, label)]); comments: R-PRD-6 choice.
PRODUCTS = [
    (101, "Galaxy A55 5G", "SM-A556B", "399.00", (20, 21, 22), ()),       # one chain -> Android
    (102, "iPhone 15 128 GB", "IP15-128", "899.00", (21, 23), ()),          # chain -> iPhone
    (103, "Case & charger bundle", "BNDL-CC", "34.90", (25, 26), ()),       # same level -> Cases
    (104, "USB-C charger 25 W", "CHG-25W", "19.99", (26,), ()),
    (105, "Screen protector", "SP-GLASS", "9.50", (24, 41), ()),           # same level -> Accessories
    (106, "iPhone 13 display", "LCD-IP13", "129.00", (41, 50), ()),         # levels 2, 1 -> Sale
    (107, "Battery for iPhone 11", "BAT-IP11", "39.00", (40, 42), ()),      # chain -> Batteries
    (108, "Refurbished ThinkPad X1", "TP-X1-R", "649.00", (31, 50), ()),    # levels 2, 1 -> Sale
    (109, "Gaming laptop RTX 4060", "GL-4060", "1299.00", (30, 32), ()),    # chain -> Gaming laptops
    (110, "Gift card", "", "50.00", (51,), ()),                             # no SKU
    (111, "Cleaning kit", "CLN-KIT", "7.25", (15,), ()),
    (112, "Silicone case", "CASE", "14.00", (25,), ((1121, "CASE-BLK", "Black"), (1122, "CASE-RED", "Red"))),
]
DELETED_PRODUCT = (199, "Discontinued USB cable", "2.99")  # in old orders, gone from the catalogue
SHIPPING = [("flat_rate", "Flat rate", "5.00"), ("local_pickup", "Local pickup", "0.00"),
            ("free_shipping", "Free shipping", "0.00")]
CONTACTS = ("full", "shipping_phone", "email_only", "phone_only", "name_only", "guest")
# The webhooks each kind of change sends (``Shop.touch``); a webhook may name any core topic
# (wc_is_webhook_valid_topic) or ``action.*``, only these are ever sent.
HOOK_TOPICS = {"created": ("order.created",), "updated": ("order.updated",),
               "deleted": ("order.deleted",), "restored": ("order.restored", "order.updated")}
HOOK_RESOURCES = ("coupon", "customer", "order", "product")
HOOK_EVENTS = ("created", "updated", "deleted", "restored")
HOOK_STATUSES = ("active", "paused", "disabled")
TOPIC_HOOKS = {  # WC_Webhook::get_topic_hooks(), shown in a webhook's "hooks"
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"], "coupon.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"], "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"], "order.restored": ["untrashed_post"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product",
                        "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"], "product.restored": ["untrashed_post"],
}
WEBHOOK_ID_START = 140  # webhooks are posts: their ids come from the posts' sequence


def _contact_kind(i: int) -> str:
    """A fixed pattern, so every kind exists in any shop of 25 orders or more."""
    return {0: "guest", 5: "email_only", 15: "email_only", 2: "shipping_phone",
            12: "shipping_phone", 22: "shipping_phone", 8: "phone_only", 18: "name_only"}.get(i % 25, "full")


class WcError(Exception):
    """An error answered in WooCommerce's envelope."""

    def __init__(self, status: int, code: str, message: str, **data) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def response(self) -> Response:
        response = jsonify(code=self.code, message=self.message, data={"status": self.status, **self.data})
        response.status_code = self.status
        return response


def _invalid_param(name: str, why: str) -> WcError:
    return WcError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: why})


@dataclass
class Key:
    key: str
    secret: str
    permissions: str


@dataclass
class Shop:
    """The store's state; every access holds ``lock``."""

    now: datetime
    zone: ZoneInfo
    currency: str
    keys: dict[str, Key]
    basic_auth: bool
    rng: random.Random
    buyers: list[dict]
    lock: threading.RLock = field(default_factory=threading.RLock)
    orders: dict[int, dict] = field(default_factory=dict)
    times: dict[int, list[datetime]] = field(default_factory=dict)  # id -> [created, modified]
    units: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)  # line id -> (unit, discount)
    nonces: dict[str, float] = field(default_factory=dict)
    next_order: int = 1000
    next_line: int = 5000
    sim: common.SimState = field(default_factory=common.SimState)  # the app's, once installed
    hooks: Any = None  # webhooks.Hooks, the app's, once installed

    # -- time ---------------------------------------------------------------------------

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M:%S")

    def stamp(self, order: dict, name: str, moment: datetime | None) -> None:
        order[name] = self.local(moment) if moment else None
        order[f"{name}_gmt"] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else None

    def touch(self, order_id: int, event: str = "updated") -> None:
        """WooCommerce's save(): date_modified moves to now (never backwards here), and the
        webhooks of ``event`` (a key of ``HOOK_TOPICS``) are sent. The caller holds ``lock``."""
        created, modified = self.times[order_id]
        moment = max(datetime.now(UTC).replace(microsecond=0), modified + timedelta(seconds=1))
        self.times[order_id] = [created, moment]
        self.stamp(self.orders[order_id], "date_modified", moment)
        self.notify(order_id, event)

    def notify(self, order_id: int, event: str) -> None:
        """The webhooks of ``event`` for the order, its body the ``GET orders/<id>`` JSON (for
        ``deleted`` only ``{"id": N}``), encoded as PHP's json_encode does."""
        if self.hooks is None:
            return
        order = self.orders[order_id]
        body = webhooks.php_json({"id": order_id} if event == "deleted" else order)
        self.hooks.emit(order_id, HOOK_TOPICS[event], lambda sub: body)


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------

CATEGORY_NAMES = {ident: name for ident, name, _ in CATEGORIES}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _category_json(ident: int, name: str, parent: int) -> dict:
    count = sum(1 for p in PRODUCTS if ident in p[4])
    return {"id": ident, "name": name, "slug": _slug(name), "parent": parent, "description": "",
            "display": "default", "image": None, "menu_order": 0, "count": count,
            "_links": {"self": [{"href": f"https://shop.example/wp-json/wc/v3/products/categories/{ident}"}]}}


def _product_json(product: tuple) -> dict:
    ident, name, sku, price, categories, variations = product
    escaped = name.replace("&", "&amp;")
    return {
        "id": ident, "name": escaped, "slug": _slug(name),
        "permalink": f"https://shop.example/product/{_slug(name)}/",
        "type": "variable" if variations else "simple", "status": "publish", "featured": False,
        "catalog_visibility": "visible",
        "description": f"<p>{escaped} &ndash; original, with a <strong>12 month</strong> warranty.</p>\n",
        "short_description": f"<p>{escaped}: in stock &amp; ready to ship.</p>\n",
        "sku": sku, "price": price, "regular_price": price, "sale_price": "", "on_sale": False,
        "purchasable": True, "categories": [{"id": c, "name": CATEGORY_NAMES[c].replace("&", "&amp;"),
                                             "slug": _slug(CATEGORY_NAMES[c])} for c in categories],
        "tags": [], "images": [], "attributes": [], "variations": [v[0] for v in variations],
        "parent_id": 0, "meta_data": [],
        "_links": {"self": [{"href": f"https://shop.example/wp-json/wc/v3/products/{ident}"}]},
    }


PRODUCT_JSON = {p[0]: _product_json(p) for p in PRODUCTS}
PRODUCT_ROWS = {p[0]: p for p in PRODUCTS}


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _line(shop: Shop, product_id: int, variation_id: int, quantity: int, discount: Decimal) -> dict:
    if product_id in PRODUCT_ROWS:
        _, name, sku, price, _, variations = PRODUCT_ROWS[product_id]
        variation = next((v for v in variations if v[0] == variation_id), None)
        parent_name = None
        if variation is None and variations:
            variation = variations[0]
        if variation:
            variation_id, sku, parent_name = variation[0], variation[1], name
            name = f"{name} - {variation[2]}"
        else:
            variation_id = 0
    else:  # a product deleted since: WooCommerce keeps the id and name, sku becomes null
        name, sku, price, parent_name, variation_id = DELETED_PRODUCT[1], None, DELETED_PRODUCT[2], None, 0
    shop.next_line += 1
    line = {"id": shop.next_line, "name": name.replace("&", "&amp;"), "product_id": product_id,
            "variation_id": variation_id, "quantity": quantity, "tax_class": "", "subtotal_tax": "0.00",
            "total_tax": "0.00", "taxes": [], "meta_data": [], "sku": sku,
            "image": {"id": 0, "src": ""}, "parent_name": parent_name}
    shop.units[line["id"]] = (Decimal(price), discount)
    _price_line(shop, line)
    return line


def _price_line(shop: Shop, line: dict) -> None:
    unit, discount = shop.units[line["id"]]
    subtotal = unit * line["quantity"]
    total = (subtotal * (1 - discount)).quantize(CENT, ROUND_HALF_UP)
    line["subtotal"], line["total"] = _money(subtotal), _money(total)
    price = float(total / line["quantity"]) if line["quantity"] else 0.0
    line["price"] = int(price) if price.is_integer() else price  # a JSON number, as get_total()/qty


def _total(order: dict) -> None:
    items = sum((Decimal(line["total"]) for line in order["line_items"]), Decimal(0))
    subtotal = sum((Decimal(line["subtotal"]) for line in order["line_items"]), Decimal(0))
    shipping = Decimal(order["shipping_total"])
    order["discount_total"] = _money(subtotal - items)
    order["total"] = _money(items + shipping)
    for coupon in order["coupon_lines"]:
        coupon["discount"] = order["discount_total"]


def _address(person: dict | None, phone: str, street: int, with_email: bool, email: str) -> dict:
    address = {"first_name": person["first_name"] if person else "",
               "last_name": person["last_name"] if person else "", "company": "",
               "address_1": f"{street} Khreshchatyk St" if person else "", "address_2": "",
               "city": "Kyiv" if person else "", "state": "", "postcode": "01001" if person else "",
               "country": "UA" if person else "", "phone": phone}
    if with_email:
        address["email"] = email
    return address


def _contacts(shop: Shop, kind: str, person: dict) -> tuple[dict, dict]:
    """(billing, shipping) for one of ``CONTACTS``."""
    phones = person["phones"]
    phone = shop.rng.choice(phones)
    street = shop.rng.randint(1, 120)
    who = None if kind == "guest" else person
    email = person["email"] if kind in ("full", "shipping_phone", "email_only") else ""
    billing_phone = phone if kind in ("full", "phone_only") else ""
    shipping_phone = phone if kind == "shipping_phone" else (
        shop.rng.choice(["", shop.rng.choice(phones)]) if kind == "full" else "")
    return (_address(who, billing_phone, street, True, email),
            _address(who, shipping_phone, street, False, ""))


def _new_order(shop: Shop, *, created: datetime, modified: datetime, status: str, currency: str,
               kind: str, person: dict, items: list[tuple[int, int, int]], discount: Decimal,
               customer_id: int, shipping: tuple[str, str, str]) -> dict:
    shop.next_order += shop.rng.choice([1, 2, 3])  # ids are shared with other posts: gaps
    ident = shop.next_order
    billing, ship_to = _contacts(shop, kind, person)
    order = {
        "id": ident, "parent_id": 0, "number": str(ident),
        "order_key": "wc_order_" + hashlib.md5(str(ident).encode()).hexdigest()[:13],
        "created_via": "checkout", "version": "9.4.2", "status": status, "currency": currency,
        "currency_symbol": {"EUR": "€", "USD": "$", "UAH": "₴"}.get(currency, currency),
        "discount_tax": "0.00", "shipping_total": shipping[2], "shipping_tax": "0.00", "cart_tax": "0.00",
        "total_tax": "0.00", "prices_include_tax": False, "customer_id": customer_id,
        "customer_ip_address": "", "customer_user_agent": "", "customer_note": "",
        "billing": billing, "shipping": ship_to, "payment_method": "cod",
        "payment_method_title": "Cash on delivery", "transaction_id": "", "cart_hash": "",
        "meta_data": [], "line_items": [_line(shop, p, v, q, discount) for p, v, q in items],
        "tax_lines": [], "fee_lines": [], "refunds": [],
        "shipping_lines": [{"id": shop.next_line + 1, "method_title": shipping[1], "method_id": shipping[0],
                            "instance_id": "1", "total": shipping[2], "total_tax": "0.00", "taxes": [],
                            "meta_data": []}],
        "coupon_lines": [{"id": shop.next_line + 2, "code": "save10", "discount": "0.00",
                          "discount_tax": "0.00", "meta_data": []}] if discount else [],
        "payment_url": f"https://shop.example/checkout/order-pay/{ident}/", "is_editable": status in
        ("pending", "on-hold", "checkout-draft"), "needs_payment": status in ("pending", "failed"),
        "needs_processing": True,
        "_links": {"self": [{"href": f"https://shop.example/wp-json/wc/v3/orders/{ident}"}],
                   "collection": [{"href": "https://shop.example/wp-json/wc/v3/orders"}]},
    }
    shop.next_line += 2
    _total(order)
    shop.stamp(order, "date_created", created)
    shop.stamp(order, "date_modified", modified)
    shop.stamp(order, "date_paid", created + timedelta(minutes=3) if status in PAID else None)
    shop.stamp(order, "date_completed", modified if status == "completed" else None)
    shop.orders[ident] = order
    shop.times[ident] = [created, modified]
    return order


def _random_items(shop: Shop, i: int) -> list[tuple[int, int, int]]:
    if i % 31 == 7:
        return []  # an order without products
    picks = shop.rng.sample(PRODUCTS, shop.rng.choice([1, 1, 1, 2, 2, 3]))
    items = [(p[0], shop.rng.choice(p[5])[0] if p[5] else 0, shop.rng.choice([1, 1, 1, 2, 3])) for p in picks]
    if i % 41 == 5:
        items.append((DELETED_PRODUCT[0], 0, 1))
    return items


def _status(shop: Shop, i: int, count: int) -> str:
    every = list(STATUS_WEIGHTS)
    if i >= count - len(every):  # the newest orders show every status at least once
        return every[count - 1 - i]
    return shop.rng.choices(every, weights=list(STATUS_WEIGHTS.values()))[0]


def _seed(shop: Shop, count: int) -> None:
    start = shop.now - timedelta(days=90)
    span = 90 * 86400 - 3600  # the newest order is an hour old, older than any test's "now"
    offsets = sorted(shop.rng.uniform(0, span) for _ in range(count))
    created = None
    other = "USD" if shop.currency != "USD" else "EUR"
    for i, offset in enumerate(offsets):
        if not (created and i % 10 == 3):  # every tenth order shares the second of the previous
            created = (start + timedelta(seconds=offset)).replace(microsecond=0)
        age = (shop.now - created).total_seconds() - 60
        modified = created + timedelta(seconds=int(shop.rng.uniform(0, min(5 * 86400, age))))
        person_index = shop.rng.randrange(len(shop.buyers))
        kind = _contact_kind(i)
        _new_order(shop, created=created, modified=modified, status=_status(shop, i, count),
                   currency=other if i % 37 == 11 else shop.currency, kind=kind,
                   person=shop.buyers[person_index], items=_random_items(shop, i),
                   discount=Decimal("0.10") if i % 9 == 4 else Decimal(0),
                   customer_id=person_index + 2 if kind == "full" and shop.rng.random() < 0.5 else 0,
                   shipping=shop.rng.choice(SHIPPING))


# ---------------------------------------------------------------------------------------------
# Request parsing: PHP's view of the query string
# ---------------------------------------------------------------------------------------------


def php_args() -> dict[str, object]:
    """The query as PHP's ``$_GET``: the last duplicate wins, ``name[]=`` collects a list."""
    args: dict[str, object] = {}
    for key, value in parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True):
        if key.endswith("[]"):
            current = args.get(key[:-2])
            args[key[:-2]] = (current if isinstance(current, list) else []) + [value]
        else:
            args[key] = value
    return args


def _list_arg(args: dict, name: str) -> list[str] | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [item.strip() for item in items if item.strip()]


def _ids_arg(args: dict, name: str) -> set[int] | None:
    items = _list_arg(args, name)
    if items is None:
        return None
    if not all(item.isdigit() for item in items):
        raise _invalid_param(name, f"{name}[0] is not of type integer.")
    return {int(item) for item in items}


def _int_arg(args: dict, name: str, default: int, low: int, high: int | None) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if not str(value).isdigit() or int(value) < low or (high is not None and int(value) > high):
        upper = f" and {high} (inclusive)" if high else ""
        raise _invalid_param(name, f"{name} must be between {low} (inclusive){upper}.")
    return int(value)


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _date_arg(shop: Shop, args: dict, name: str, gmt: bool) -> datetime | None:
    """A date filter as aware UTC: without an offset it is GMT when ``dates_are_gmt``, else
    site-local (WooCommerce then compares the local columns)."""
    value = args.get(name)
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise _invalid_param(name, "Invalid date.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC if gmt else shop.zone)
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Authentication (class-wc-rest-authentication.php, woocommerce.md B2)
# ---------------------------------------------------------------------------------------------

OAUTH_REQUIRED = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature",
                  "oauth_signature_method")


def _auth_error(message: str, code: str = "woocommerce_rest_authentication_error") -> WcError:
    return WcError(401, code, message)


def _basic(shop: Shop, args: dict) -> Key | None:
    key_id, secret = args.get("consumer_key"), args.get("consumer_secret")
    if not key_id and request.authorization and request.authorization.type == "basic":
        key_id, secret = request.authorization.username, request.authorization.password
    if not key_id:
        return None
    key = shop.keys.get(str(key_id))
    if key is None:
        return None  # an unknown key sets no error: the request goes on unauthenticated
    if not hmac.compare_digest(key.secret.encode(), str(secret or "").encode()):
        error = _auth_error("Consumer secret is invalid.")
        error.basic = True
        raise error
    return key


def _oauth_params(args: dict) -> dict[str, object]:
    params = dict(args)
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "oauth ":
        params.update(dict(oauth_utils.parse_authorization_header(header)))
    if request.mimetype == "application/x-www-form-urlencoded":
        params.update(request.form.to_dict())  # $_POST is part of the signed parameters
    return params


def _expected_signature(params: dict[str, object], method: str, secret: str) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if key == "oauth_signature":
            continue
        if isinstance(value, list):  # PHP arrays are signed as name[0], name[1], ...
            pairs += [(f"{key}[{index}]", str(item)) for index, item in enumerate(value)]
        else:
            pairs.append((key, str(value)))
    base = oauth_sig.signature_base_string(request.method, oauth_sig.base_string_uri(request.base_url),
                                           oauth_sig.normalize_parameters(pairs))
    client = OAuthClient("", client_secret=secret)  # key = consumer_secret + "&"
    if method == "HMAC-SHA256":
        return oauth_sig.sign_hmac_sha256_with_client(base, client)
    return oauth_sig.sign_hmac_sha1_with_client(base, client)


def _oauth(shop: Shop, args: dict) -> Key | None:
    params = _oauth_params(args)
    if not any(name.startswith("oauth_") for name in params):
        return None
    missing = [name for name in OAUTH_REQUIRED if not params.get(name)]
    if missing:
        raise _auth_error(f"Missing OAuth parameter(s) {', '.join(missing)}",
                          "woocommerce_rest_authentication_missing_parameter")
    key = shop.keys.get(str(params["oauth_consumer_key"]))
    if key is None:
        raise _auth_error("Consumer key is invalid.")
    method = str(params["oauth_signature_method"])
    if method not in ("HMAC-SHA1", "HMAC-SHA256"):
        raise _auth_error("Invalid signature - signature method is invalid.")
    given = str(params["oauth_signature"]).replace(" ", "+")
    if not hmac.compare_digest(_expected_signature(params, method, key.secret).encode(), given.encode()):
        raise _auth_error("Invalid signature - provided signature does not match.")
    _check_timestamp_and_nonce(shop, key, str(params["oauth_timestamp"]), str(params["oauth_nonce"]))
    return key


def _check_timestamp_and_nonce(shop: Shop, key: Key, timestamp: str, nonce: str) -> None:
    now = time.time()
    if not timestamp.isdigit() or abs(int(timestamp) - now) > OAUTH_WINDOW:
        raise _auth_error("Invalid timestamp.")
    with shop.lock:
        for seen, at in list(shop.nonces.items()):  # forget nonces older than the window
            if at < now - OAUTH_WINDOW:
                del shop.nonces[seen]
        if f"{key.key}:{nonce}" in shop.nonces:
            raise _auth_error("Invalid nonce - nonce has already been used.")
        shop.nonces[f"{key.key}:{nonce}"] = int(timestamp)


def _authenticate(shop: Shop) -> None:
    """Raise the WcError WooCommerce would answer before routing, if any."""
    args = php_args()
    key = _basic(shop, args) if shop.basic_auth else None
    key = key or _oauth(shop, args)
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    if key is not None:
        needed = "write" if writing else "read"
        if needed not in key.permissions:
            raise _auth_error(f"The API key provided does not have {needed} permissions.")
        return
    single = re.search(r"/\d+$", request.path) is not None
    if writing:
        raise WcError(401, "woocommerce_rest_cannot_edit",
                      "Sorry, you are not allowed to edit this resource.")
    raise WcError(401, "woocommerce_rest_cannot_view",
                  "Sorry, you cannot view this resource." if single else "Sorry, you cannot list resources.")


# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


def _paged(items: list, args: dict) -> Response:
    per_page = _int_arg(args, "per_page", 10, 1, 100)
    page = _int_arg(args, "page", 1, 1, None)
    offset = args.get("offset")
    start = int(offset) if str(offset or "").isdigit() else (page - 1) * per_page
    total = len(items)
    pages = math.ceil(total / per_page) if total else 0
    response = jsonify(items[start:start + per_page])
    response.headers["X-WP-Total"] = str(total)
    response.headers["X-WP-TotalPages"] = str(pages)
    links = []
    query = {k: v for k, v in request.args.items(multi=True)
             if not k.startswith("oauth_") and k not in ("consumer_key", "consumer_secret")}
    if page > 1:
        previous = min(page - 1, max(pages, 1))
        links.append(f'<{request.base_url}?{urlencode({**query, "page": previous})}>; rel="prev"')
    if page < pages:
        links.append(f'<{request.base_url}?{urlencode({**query, "page": page + 1})}>; rel="next"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def _status_filter(args: dict) -> set[str] | None:
    """None = ``any`` (every status but trash)."""
    wanted = _list_arg(args, "status") or ["any"]
    allowed = ["any", "trash", *STATUSES]
    for index, status in enumerate(wanted):
        if status not in allowed:
            raise _invalid_param("status", f"status[{index}] is not one of {', '.join(allowed)}.")
    return None if "any" in wanted else set(wanted)


def _select_orders(shop: Shop, args: dict) -> list[dict]:
    statuses = _status_filter(args)
    include, exclude = _ids_arg(args, "include"), _ids_arg(args, "exclude") or set()
    gmt = _flag(args.get("dates_are_gmt"))
    bounds = {name: _date_arg(shop, args, name, gmt)
              for name in ("after", "before", "modified_after", "modified_before")}
    orderby = str(args.get("orderby") or "date")
    order = str(args.get("order") or "desc")
    if orderby not in ("date", "id", "include", "modified", "title", "slug"):
        raise _invalid_param("orderby", "orderby is not one of date, id, include, title, slug, modified.")
    if order not in ("asc", "desc"):
        raise _invalid_param("order", "order is not one of asc, desc.")
    named = _list_arg(args, "include") or []

    def ordered() -> tuple[list[tuple], list, list[dict]]:
        """Every order of the query but its dates, as (order, created, modified), ascending; the
        dates it is ordered by (for orderby date or modified); the orders alone."""
        candidates = shop.orders.items() if include is None else \
            [(i, shop.orders[i]) for i in sorted(include) if i in shop.orders]
        rows = [(o, *shop.times[i]) for i, o in candidates
                if (o["status"] != "trash" if statuses is None else o["status"] in statuses)
                and i not in exclude]
        position = {ident: n for n, ident in enumerate(named)}
        keys = {"date": lambda r: (r[1], r[0]["id"]), "modified": lambda r: (r[2], r[0]["id"]),
                "include": lambda r: (position.get(str(r[0]["id"]), 0), r[0]["id"])}
        rows.sort(key=keys.get(orderby, lambda r: r[0]["id"]))
        column = {"date": 1, "modified": 2}.get(orderby)
        return rows, [row[column] for row in rows] if column else [], [row[0] for row in rows]

    # Each page of an import is a fresh query from the last date seen (the adapter's paging): the
    # orders sorted by that date are kept while the shop is unchanged, and the date bounds of the
    # sort column are found by bisection, so a page costs its slice, not a sort of the shop.
    query = ("orders", None if statuses is None else tuple(sorted(statuses)), tuple(named),
             tuple(sorted(exclude)), orderby)
    with shop.lock:
        rows, dates, chosen = shop.sim.selection(query, len(shop.orders), ordered)
        low, high = ("modified_after", "modified_before") if orderby == "modified" else ("after", "before")
        others = dict(bounds)
        if dates:  # ordered by the date of bounds[low] / bounds[high]
            start = bisect.bisect_right(dates, bounds[low]) if bounds[low] else 0
            end = bisect.bisect_left(dates, bounds[high]) if bounds[high] else len(rows)
            rows, chosen = rows[start:end], chosen[start:end]
            others[low] = others[high] = None
        if any(others.values()):
            chosen = [row[0] for row in rows if _within(row[1], bounds["after"], bounds["before"])
                      and _within(row[2], bounds["modified_after"], bounds["modified_before"])]
    return chosen[::-1] if order == "desc" else chosen  # the caller only reads it


def _within(moment: datetime, after: datetime | None, before: datetime | None) -> bool:
    return (after is None or moment > after) and (before is None or moment < before)


def _products(args: dict) -> list[dict]:
    include = _ids_arg(args, "include")
    sku = args.get("sku")
    category = str(args.get("category") or "")
    rows = [p for i, p in PRODUCT_JSON.items()
            if (include is None or i in include) and (not sku or p["sku"] == sku)
            and (not category.isdigit() or int(category) in [c["id"] for c in p["categories"]])]
    return sorted(rows, key=lambda p: p["id"], reverse=str(args.get("order") or "desc") == "desc")


def _categories(args: dict) -> list[dict]:
    parent = args.get("parent")
    rows = [_category_json(*c) for c in CATEGORIES]
    if parent not in (None, ""):
        rows = [c for c in rows if str(c["parent"]) == str(parent)]
    if _flag(args.get("hide_empty")):
        rows = [c for c in rows if c["count"]]
    return sorted(rows, key=lambda c: c["name"].lower(), reverse=str(args.get("order") or "asc") == "desc")


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------

NOT_FOUND_PAGE = ("<!DOCTYPE html><html lang=\"en\"><head><title>Page not found &ndash; Shop</title>"
                  "</head><body class=\"error404\"><h1>Oops! That page can&rsquo;t be found.</h1>"
                  "</body></html>")
NO_ROUTE = "No route was found matching the URL and request method."


def _error_body(status: int, kind: str):
    """Faults and rate limits in the shape a WordPress host gives them."""
    if status in (502, 503):
        reason = "Bad Gateway" if status == 502 else "Service Unavailable"
        return Response(f"<html><body><h1>{status} {reason}</h1><hr><center>nginx</center></body></html>",
                        mimetype="text/html")
    known = {401: ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
             403: ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
             404: ("rest_no_route", NO_ROUTE),
             429: ("rest_too_many_requests", "Too many requests. Please wait and try again."),
             500: ("internal_server_error", "<p>There has been a critical error on this website.</p>")}
    code, message = known.get(status, ("rest_error", kind))
    return jsonify(code=code, message=message, data={"status": status})


def _rate(value) -> tuple[int, float] | None:
    if not value:
        return None
    if isinstance(value, (tuple, list)):
        return int(value[0]), float(value[1])
    count, _, seconds = str(value).partition("/")
    return int(count), float(seconds or 1)


def create_app(orders: int = 200, seed: int = 1, **options) -> Flask:
    """The simulator app; see the module docstring for ``options``."""
    now = options.get("now")
    now = datetime.fromisoformat(str(now)) if now else datetime.now(UTC)
    now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    key = Key(str(options.get("consumer_key", CONSUMER_KEY)),
              str(options.get("consumer_secret", CONSUMER_SECRET)),
              str(options.get("permissions", "read_write")))
    shop = Shop(now=now, zone=ZoneInfo(str(options.get("timezone", "Europe/Kyiv"))),
                currency=str(options.get("currency", "EUR")).upper(), keys={key.key: key},
                basic_auth=_flag(options.get("basic_auth", True)), rng=random.Random(int(seed)),
                buyers=common.people(int(seed), max(8, int(orders) // 3)))
    _seed(shop, int(orders))

    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["woocommerce_shop"] = shop
    shop.sim = common.install(app, is_api=lambda path: path.startswith("/wp-json"),
                              rate_limit=_rate(options.get("rate_limit")), error_body=_error_body)
    shop.hooks = webhooks.Hooks(webhooks.WooCommerce(), options)
    webhooks.install(app, shop.hooks)
    _install_wordpress(app, shop, no_api=_flag(options.get("no_api")),
                       plain_permalinks=_flag(options.get("plain_permalinks")))
    _install_api(app, shop, reports=_flag(options.get("reports", True)))
    _install_webhook_api(app, shop, shop.hooks)
    _install_control(app, shop)
    _install_demo_page(app, shop, key, spare=common.is_spare(options))
    return app


def _install_wordpress(app: Flask, shop: Shop, *, no_api: bool, plain_permalinks: bool) -> None:
    """What WordPress does before a route runs: permalinks, plugin state, authentication."""

    @app.before_request
    def wordpress():
        if not request.path.startswith("/wp-json"):
            return None
        if plain_permalinks:
            return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")
        if no_api and request.path.startswith("/wp-json/wc/"):
            return WcError(404, "rest_no_route", NO_ROUTE).response()
        try:
            _authenticate(shop)
        except WcError as error:
            response = error.response()
            if getattr(error, "basic", False):
                response.headers["WWW-Authenticate"] = (
                    'Basic realm="WooCommerce API. Use a consumer key in the username field and a '
                    'consumer secret in the password field."')
            return response
        return None

    @app.errorhandler(WcError)
    def wc_error(error: WcError):
        return error.response()

    @app.errorhandler(404)
    @app.errorhandler(405)
    def no_route(error):
        if request.path.startswith("/wp-json"):
            return WcError(404, "rest_no_route", NO_ROUTE).response()
        return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")


def _install_api(app: Flask, shop: Shop, *, reports: bool) -> None:
    @app.get(f"{API}/orders")
    def list_orders():
        args = php_args()
        return _paged(_select_orders(shop, args), args)

    @app.get(f"{API}/orders/<int:order_id>")
    def get_order(order_id: int):
        with shop.lock:
            order = shop.orders.get(order_id)
        if order is None:
            raise WcError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return jsonify(order)

    @app.route(f"{API}/orders/<int:order_id>", methods=["PUT", "POST", "PATCH"])
    def update_order(order_id: int):
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else request.form.to_dict()
        with shop.lock:
            if order_id not in shop.orders:
                raise WcError(400, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            if "status" in body:
                if body["status"] not in STATUSES:
                    raise _invalid_param("status", f"status is not one of {', '.join(STATUSES)}.")
                _set_status(shop, order_id, body["status"])
            shop.touch(order_id)
            shop.sim.changed()
            return jsonify(shop.orders[order_id])

    @app.get(f"{API}/products")
    def list_products():
        args = php_args()
        return _paged(_products(args), args)

    @app.get(f"{API}/products/<int:product_id>")
    def get_product(product_id: int):
        if product_id not in PRODUCT_JSON:
            raise WcError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return jsonify(PRODUCT_JSON[product_id])

    @app.get(f"{API}/products/categories")
    def list_categories():
        args = php_args()
        return _paged(_categories(args), args)

    if reports:
        @app.get(f"{API}/reports/orders/totals")
        def order_totals():
            with shop.lock:
                counts = {slug: 0 for slug in STATUSES}
                for order in shop.orders.values():
                    if order["status"] in counts:
                        counts[order["status"]] += 1
            return jsonify([{"slug": slug, "name": name, "total": counts[slug]}
                            for slug, name in STATUSES.items()])


def _install_webhook_api(app: Flask, shop: Shop, hooks: webhooks.Hooks) -> None:
    """``GET|POST webhooks``, ``GET|PUT|POST|PATCH|DELETE webhooks/<id>`` as the v1..v3
    webhooks controller answers them (class-wc-rest-webhooks-v1-controller.php)."""
    platform: webhooks.WooCommerce = hooks.platform

    def resource(sub: webhooks.Subscription) -> dict:
        base = request.host_url.rstrip("/")
        created, modified = (datetime.fromtimestamp(t, UTC).replace(microsecond=0) for t in (sub.created, sub.updated))
        resource_name, _, event = sub.topic.partition(".")
        return {"id": sub.id, "name": sub.data.get("name", ""), "status": sub.status, "topic": sub.topic,
                "resource": resource_name, "event": event, "hooks": TOPIC_HOOKS.get(sub.topic, [event]),
                "delivery_url": sub.url, "date_created": shop.local(created),
                "date_created_gmt": created.strftime("%Y-%m-%dT%H:%M:%S"), "date_modified": shop.local(modified),
                "date_modified_gmt": modified.strftime("%Y-%m-%dT%H:%M:%S"),
                "_links": {"self": [{"href": f"{base}{API}/webhooks/{sub.id}"}],
                           "collection": [{"href": f"{base}{API}/webhooks"}]}}

    def body() -> dict:
        given = request.get_json(silent=True)
        values = dict(php_args())
        values.update(given if isinstance(given, dict) else request.form.to_dict())
        return values

    def valid_topic(topic: str) -> bool:
        resource_name, _, event = topic.lower().partition(".")
        return (resource_name == "action" and bool(event)) or (resource_name in HOOK_RESOURCES and event in HOOK_EVENTS)

    def valid_url(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)

    def invalid(what: str, message: str, status: int = 400) -> WcError:
        return WcError(status, f"woocommerce_rest_shop_webhook_{what}", message)

    def check_status(values: dict) -> None:
        status = values.get("status")
        if status not in (None, "") and status not in HOOK_STATUSES:
            raise _invalid_param("status", f"status is not one of {', '.join(HOOK_STATUSES)}.")

    @app.get(f"{API}/webhooks")
    def list_webhooks():
        args = php_args()
        status = str(args.get("status") or "all")
        if status not in ("all", *HOOK_STATUSES):
            raise _invalid_param("status", f"status is not one of all, {', '.join(HOOK_STATUSES)}.")
        rows = [resource(s) for s in reversed(hooks.all()) if status in ("all", s.status)]
        return _paged(rows, args)

    @app.post(f"{API}/webhooks")
    def create_webhook():
        values = body()
        if values.get("id"):
            raise invalid("exists", "Cannot create existing shop_webhook.")
        check_status(values)
        topic, url = str(values.get("topic") or ""), str(values.get("delivery_url") or "")
        if not topic or not valid_topic(topic):
            raise invalid("invalid_topic", "Webhook topic is required and must be valid.")
        if not url or not valid_url(url):
            raise invalid("invalid_delivery_url",
                          "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        name = str(values.get("name") or "") or \
            f"Webhook created on {datetime.now(shop.zone).strftime('%b %d, %Y @ %I:%M %p')}"
        # The controller saves every new webhook active, whatever "status" says, and pings it.
        sub = hooks.add(topic.lower(), url, str(values.get("secret") or "") or _password(50),
                        first_id=WEBHOOK_ID_START, name=name, source=request.host_url)
        response = jsonify(resource(sub))
        response.status_code = 201
        response.headers["Location"] = f"{request.host_url.rstrip('/')}{API}/webhooks/{sub.id}"
        platform.ping(hooks, sub)  # inside the request, as WooCommerce does; its answer changes nothing
        return response

    @app.get(f"{API}/webhooks/<int:sub_id>")
    def get_webhook(sub_id: int):
        sub = hooks.get(sub_id)
        if sub is None:
            raise invalid("invalid_id", "ID is invalid.")
        return jsonify(resource(sub))

    @app.route(f"{API}/webhooks/<int:sub_id>", methods=["PUT", "POST", "PATCH"])
    def update_webhook(sub_id: int):
        sub = hooks.get(sub_id)
        if sub is None:
            raise invalid("invalid_id", "ID is invalid.")
        values = body()
        check_status(values)
        topic, url = str(values.get("topic") or ""), str(values.get("delivery_url") or "")
        if topic and not valid_topic(topic):
            raise invalid("invalid_topic", "Webhook topic must be valid.")
        if url and not valid_url(url):
            raise invalid("invalid_delivery_url",
                          "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        with hooks.lock:
            sub.topic = topic.lower() or sub.topic
            sub.url = url or sub.url
            sub.secret = str(values.get("secret") or "") or sub.secret
            sub.status = str(values.get("status") or "") or sub.status  # the failure count stays
            sub.data["name"] = str(values.get("name") or "") or sub.data.get("name", "")
            sub.updated = time.time()
        return jsonify(resource(sub))

    @app.delete(f"{API}/webhooks/<int:sub_id>")
    def delete_webhook(sub_id: int):
        if not _flag(body().get("force")):
            raise WcError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        sub = hooks.get(sub_id)
        if sub is None:
            raise invalid("invalid_id", "Invalid ID.", 404)
        shown = resource(sub)
        hooks.remove(sub_id)
        return jsonify(shown)


def _password(length: int) -> str:
    """``wp_generate_password($length, true, true)``: letters, digits and special characters."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
    rng = random.SystemRandom()
    return "".join(rng.choice(alphabet) for _ in range(length))


def _set_status(shop: Shop, order_id: int, status: str) -> None:
    order = shop.orders[order_id]
    order["status"] = status
    moment = datetime.now(UTC).replace(microsecond=0)
    if status in PAID and not order["date_paid"]:
        shop.stamp(order, "date_paid", moment)
    shop.stamp(order, "date_completed", moment if status == "completed" else None)


def _set_quantity(shop: Shop, order: dict, line: dict, quantity: int) -> None:
    """A line's quantity with its price and the order's totals recomputed, saved."""
    line["quantity"] = quantity
    _price_line(shop, line)
    _total(order)
    shop.touch(order["id"])


def _install_control(app: Flask, shop: Shop) -> None:
    @app.get("/_sim/orders")
    def sim_orders():
        with shop.lock:
            fields = ("id", "status", "currency", "date_created_gmt", "date_modified_gmt")
            return jsonify([{k: o[k] for k in fields} for o in shop.orders.values()])

    @app.get("/_sim/orders/<int:order_id>")
    def sim_order(order_id: int):
        with shop.lock:
            if order_id not in shop.orders:
                return jsonify(error="no such order"), 404
            return jsonify(shop.orders[order_id])

    @app.post("/_sim/orders")
    def sim_add_orders():
        body = request.get_json(force=True, silent=True) or {}
        with shop.lock:
            added = [_add_order(shop, body) for _ in range(max(1, min(int(body.get("count", 1)), 10_000)))]
        return jsonify(ids=[o["id"] for o in added], orders=added), 201

    @app.post("/_sim/orders/<int:order_id>/items/<int:line_id>")
    def sim_quantity(order_id: int, line_id: int):
        quantity = int((request.get_json(force=True, silent=True) or {}).get("quantity", 1))
        with shop.lock:
            order = shop.orders.get(order_id)
            line = next((l for l in (order or {}).get("line_items", []) if l["id"] == line_id), None)
            if line is None:
                return jsonify(error="no such order line"), 404
            _set_quantity(shop, order, line, quantity)
            return jsonify(order)

    @app.post("/_sim/orders/<int:order_id>/status")
    def sim_status(order_id: int):
        status = str((request.get_json(force=True, silent=True) or {}).get("status", ""))
        with shop.lock:
            if order_id not in shop.orders or not status:
                return jsonify(error="unknown order or empty status"), 404
            before = shop.orders[order_id]["status"]
            _set_status(shop, order_id, status)
            trashed, restored = status == "trash" != before, before == "trash" != status
            shop.touch(order_id, "deleted" if trashed else "restored" if restored else "updated")
            return jsonify(shop.orders[order_id])


def _add_order(shop: Shop, body: dict) -> dict:
    created = body.get("created")
    created = datetime.fromisoformat(created) if created else datetime.now(UTC)
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    created = created.astimezone(UTC).replace(microsecond=0)
    items = [(PRODUCTS[0][0], 0, 1)] if body.get("items") is None else [
        (int(i["product_id"]), int(i.get("variation_id", 0)), int(i.get("quantity", 1))) for i in body["items"]]
    kind = body.get("contact", "full")
    if kind not in CONTACTS:
        kind = "full"
    order = _new_order(shop, created=created, modified=created, status=str(body.get("status", "processing")),
                       currency=str(body.get("currency", shop.currency)).upper(), kind=kind,
                       person=shop.buyers[shop.rng.randrange(len(shop.buyers))], items=items,
                       discount=Decimal(0), customer_id=0, shipping=SHIPPING[0])
    order["billing"].update(body.get("billing") or {})
    order["shipping"].update(body.get("shipping") or {})
    shop.notify(order["id"], "created")
    return order


# ---------------------------------------------------------------------------------------------
# The demo page (GET /_sim/): the same changes as the control API, one button each
# ---------------------------------------------------------------------------------------------


def _install_demo_page(app: Flask, shop: Shop, key: Key, spare: bool) -> None:
    # No "Change delivery": Orderdock does not take WooCommerce's shipping lines over.
    common.install_demo_page(app, "WooCommerce", lambda: _demo_orders(shop), [
        common.DemoAction("add", "Add a new order", lambda: _demo_add(shop), per_order=False),
        common.DemoAction("quantity", "Quantity +1", lambda order_id: _demo_quantity(shop, order_id)),
        common.DemoAction("status", "Next status", lambda order_id: _demo_status(shop, order_id)),
    ], access=lambda: [("Consumer key", key.key), ("Consumer secret", key.secret)], spare=spare,
        webhooks=shop.hooks.neutral if shop.hooks else None)


def _demo_orders(shop: Shop) -> list[dict]:
    with shop.lock:
        newest = sorted(shop.orders.values(), key=lambda o: (shop.times[o["id"]][0], o["id"]), reverse=True)
        return [{"id": o["id"], "number": o["number"], "created": o["date_created"], "status": o["status"],
                 "total": f"{o['total']} {o['currency']}"} for o in newest]


def _demo_add(shop: Shop) -> str:
    """A processing order with products, billed to a buyer who left a phone and an e-mail."""
    with shop.lock:
        picks = shop.rng.sample(PRODUCTS, shop.rng.randint(1, 3))
        order = _add_order(shop, {"status": "processing", "contact": "full", "items": [
            {"product_id": p[0], "quantity": shop.rng.randint(1, 2)} for p in picks]})
        billing = order["billing"]
        return (f"Added order {order['id']}: {billing['first_name']} {billing['last_name']}, "
                f"{common.plural(len(picks), 'product')}, {order['total']} {order['currency']}.")


def _demo_quantity(shop: Shop, order_id: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, order_id)
        if not order["line_items"]:
            raise common.DemoError(f"Order {order_id} has no products.")
        line, total = order["line_items"][0], order["total"]
        before = line["quantity"]
        _set_quantity(shop, order, line, before + 1)
        name = html.unescape(line["name"])  # stored HTML-escaped, as WooCommerce answers it
        return (f"Order {order_id}: {name} quantity {before} → {line['quantity']}, "
                f"total {total} → {order['total']} {order['currency']}.")


def _demo_status(shop: Shop, order_id: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, order_id)
        before = order["status"]
        shown = f"Order {order_id} is {before}"
        status = common.next_open_status(before, DEMO_STATUSES, CLOSED_STATUSES, shown)
        _set_status(shop, order_id, status)
        shop.touch(order_id)
        return f"Order {order_id}: status {before} → {status}."
