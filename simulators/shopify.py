"""A loopback Shopify shop speaking the REST Admin API contract (shared/platforms/shopify.md).

API (every path under ``/admin/api/<YYYY-MM>/``; the version is echoed in
``X-Shopify-API-Version``):

* ``shop.json``; ``orders.json`` (``status`` open (default) | closed | cancelled | any,
  ``created_at_min/max``, ``updated_at_min/max``, ``ids``, ``since_id``, ``financial_status``,
  ``fulfillment_status``, ``fields``, ``limit`` 1..250, default 50; a larger limit gets 400
  here, an unverified guess); ``orders/count.json``;
  ``orders/<id>.json``; ``products.json`` (``ids``, ``since_id``, ``product_type``, ``fields``,
  ``limit``); ``products/<id>.json``.
* Orders are listed newest first (by id), products by id. Lists page by the ``Link`` header,
  formatted as Shopify documents it: ``<http://host/admin/api/V/orders.json?page_info=X&limit=N>;
  rel="previous", <...>; rel="next"`` (``fields`` is carried along). The cursor holds the
  first request's filters; a request with ``page_info`` and any parameter other than
  ``limit`` / ``fields`` gets 400 ``{"errors": {"status": "status cannot be passed when
  page_info is present."}}``.
* ``X-Shopify-Access-Token`` is checked: anything but the ``token`` option or a live token
  from the exchange gets 401 ``{"errors": "[API] Invalid API key or access token
  (unrecognized login or wrong password)"}``.
* A leaky bucket per shop (``bucket_size`` 40, ``leak_rate`` 2/s) reported in
  ``X-Shopify-Shop-Api-Call-Limit: used/size``; a request that overflows it gets 429
  ``{"errors": "Exceeded 2 calls per second for api client. ..."}`` with ``Retry-After``
  (seconds, "1.0" style) and counts in ``/_sim/stats`` ``rate_limited``, as the shared
  moving-window limit of ``common`` does (set with ``POST /_sim/rate-limit``).
* Webhook subscriptions (``webhooks.json``, REST): ``POST webhooks.json`` ``{"webhook": {topic,
  address, format, fields?, metafield_namespaces?}}`` -> 201 ``{"webhook": {id, address, topic,
  created_at, updated_at, format, fields, metafield_namespaces, api_version,
  private_metafield_namespaces}}``; ``GET webhooks.json`` (``address``, ``topic``,
  ``since_id``, ``limit``), ``GET webhooks/count.json``, ``GET|PUT|DELETE webhooks/<id>.json``.
  422 ``{"errors": {"topic" | "address" | "format": [...]}}`` for a blank or unknown topic
  (``WEBHOOK_TOPICS``), a topic + address already taken, or an http address: Shopify wants
  https; the simulator also takes http to a loopback host (127.0.0.1, localhost, ::1), where
  tests listen. Deliveries, retries and the ``/_sim/webhooks`` switches: ``simulators.webhooks``.
* ``POST /admin/oauth/access_token`` (form or JSON): the client credentials grant,
  ``grant_type=client_credentials&client_id=..&client_secret=..`` -> ``{"access_token":
  "shpat_...", "scope": "...", "expires_in": token_ttl}``; a wrong id or secret gets 400
  ``{"error": "invalid_client", ...}`` (the exact error shape is not documented).

Data, deterministic for a seed (times relative to ``now``): ``orders`` orders over the last
90 days in every financial / fulfilment state (cancelled, refunded, partially refunded,
fulfilled, partial, pending, authorized, ...), returning buyers whose phones are written
differently on each order (``common.people``), guest orders with a shipping name only,
POS-like orders with no buyer and no shipping at all, orders in another currency, products
with SKUs (a few variants without), product types and HTML descriptions, custom lines
without a product, shipping lines from the shop's own rates and from carriers.

Options (strings accepted, as from ``python -m simulators --option k=v``): ``basic_plan``
(1 = protected customer data withheld: customer names, e-mails, phones and addresses come
back null, missing or "" in turn, by order id), ``token`` (default ``shpat_simulator``),
``client_id`` / ``client_secret`` (default ``sim-client-id`` / ``sim-client-secret``),
``token_ttl`` (seconds, default 86399), ``bucket_size`` (40), ``leak_rate`` (2), ``currency``
(shop currency, "EUR"), ``other_currency`` ("USD"), ``timezone`` ("Europe/Berlin"),
``products`` (24), ``domain`` ("orderdock-sim.myshopify.com"), ``now`` (ISO time; default
the real time); webhooks (``simulators.webhooks``): ``hook_retry_seconds`` (1),
``hook_timeout_seconds``, ``hook_headers`` (``new`` = the ``Shopify-*`` names without ``X-``);
the HMAC key is ``client_secret``.

Control API (JSON bodies; besides ``common``'s requests / faults / stats / rate-limit):

* ``GET /_sim/orders`` -> summaries ``[{id, name, created_at, updated_at, financial_status,
  fulfillment_status, cancelled_at, closed_at, currency}]``; ``?full=1`` for whole orders.
* ``GET /_sim/orders/<id>`` -> the stored order (never redacted).
* ``POST /_sim/orders`` ``{"buyer": "returning"|"new"|"guest"|"none", "line_items":
  [{"product_id", "variant_id"?, "quantity"}], "currency", "financial_status",
  "fulfillment_status", "created_at", "shipping_lines": false}`` (all optional; ``false``
  keeps the buyer's shipping address but no shipping line, as a manual order or a digital good
  has) -> the new order (newest id).
* ``POST /_sim/orders/<id>/line_items/<line_id>`` ``{"quantity": n}``: an order edit;
  ``current_quantity`` becomes n (``quantity`` rises if n is above it).
* ``POST /_sim/orders/<id>/state`` ``{"fulfillment_status": "fulfilled"|"partial"|null,
  "financial_status": "...", "cancel": true, "cancel_reason": "customer", "close": true}``.
* ``POST /_sim/orders/<id>/shipping`` ``{"title", "code", "price", "carrier_identifier",
  "address": {...fields to change}}``: replaces the first shipping line, edits the address.
* ``POST /_sim/tokens/expire``: every exchanged token expires now.
* ``POST /_sim/bucket`` ``{"size", "leak_rate", "level"}``: resize or fill the bucket.
* ``POST /_sim/plan`` ``{"basic_plan": true}``: switch protected customer data off or on.
* ``GET /_sim/``: the "demo shop control" HTML page (``common.install_demo_page``): add an
  order; per order Quantity +1 and Change delivery (the next shipping rate). No status button:
  Orderdock does not sync Shopify statuses. It shows the Website URL and the access token to
  connect the shop with; option ``spare=1`` says it is not connected (`make run`'s spare shop).

Every change bumps the order's ``updated_at`` to the real current time and sends the webhooks
of its kind (``HOOK_TOPICS``: a new order ``orders/create``; any change ``orders/updated``; a
cancel also ``orders/cancelled``, a quantity edit also ``orders/edited``).
"""
from __future__ import annotations

import base64
import bisect
import copy
import functools
import json
import math
import random
import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request

from simulators import common, webhooks

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = ("Exceeded 2 calls per second for api client. Reduce request rates to resume "
             "uninterrupted service.")
ERRORS = {401: INVALID_TOKEN, 402: "Unavailable Shop", 403: "[API] This action requires merchant "
          "approval for read_orders scope.", 404: "Not Found", 429: THROTTLED,
          500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
SCOPES = "read_orders,read_products"
VERSION = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)/")
CENT = Decimal("0.01")
MAX_LIMIT = 250

COMBOS = [  # (financial_status, fulfillment_status, cancelled), weight
    (("paid", None, False), 10), (("paid", "fulfilled", False), 8), (("pending", None, False), 3),
    (("authorized", None, False), 2), (("partially_paid", None, False), 1),
    (("paid", "partial", False), 2), (("partially_refunded", None, False), 1),
    (("partially_refunded", "fulfilled", False), 1), (("refunded", None, False), 1),
    (("refunded", "restocked", False), 1), (("voided", None, True), 1), (("refunded", None, True), 1),
    (("expired", None, False), 1),
]
BUYERS = [("returning", 10), ("new", 4), ("guest", 1), ("none", 1)]
SHIPPING = [  # title, code, price, carrier_identifier
    ("Standard", "STANDARD", "4.90", None), ("Express", "EXPRESS", "9.90", None),
    ("DHL Paket", "dhl-paket", "5.49", "2f8a6e0c1d9b4c11"), ("Free shipping", "FREE", "0.00", None),
    ("Nova Poshta", "np-warehouse", "3.00", "9b1c77e0a4f24d2e"),
]
TYPES = ["Phone cases", "Chargers", "Screen protectors", "Cables", "Spare parts", "Headphones"]
NOUNS = ["Case", "Charger", "Glass", "Cable", "Battery", "Earbuds", "Stand", "Adapter"]
ADJECTIVES = ["Rugged", "Slim", "Fast", "Braided", "Original", "Wireless", "Magnetic", "Classic"]
STREETS = ["Hauptstraße 5", "Khreshchatyk 22", "Marienplatz 1", "Svobody Ave 17", "Nowy Świat 40",
           "Torstraße 101"]
CITIES = [("Berlin", "Berlin", "BE", "10115", "Germany", "DE"),
          ("Kyiv", "Kyiv City", "30", "01001", "Ukraine", "UA"),
          ("Munich", "Bavaria", "BY", "80331", "Germany", "DE"),
          ("Lviv", "Lviv Oblast", "46", "79000", "Ukraine", "UA"),
          ("Warsaw", "Masovia", "MZ", "00-001", "Poland", "PL")]
# The webhooks each kind of change sends (``Shop.touch``), and the topics a subscription may
# name with this app's scopes (read_orders, read_products); the others are accepted, never sent.
HOOK_TOPICS = {"created": ("orders/create",), "updated": ("orders/updated",),
               "cancelled": ("orders/cancelled", "orders/updated"), "edited": ("orders/updated", "orders/edited")}
WEBHOOK_TOPICS = ("app/uninstalled", "orders/cancelled", "orders/create", "orders/delete", "orders/edited",
                  "orders/fulfilled", "orders/paid", "orders/partially_fulfilled", "orders/updated",
                  "products/create", "products/delete", "products/update", "shop/update")
WEBHOOK_ID_START = 1_047_897_601
PROTECTED_CUSTOMER = ("first_name", "last_name", "email", "phone", "default_address")
PROTECTED_ORDER = ("email", "contact_email", "phone", "billing_address", "shipping_address")


def create_app(orders: int = 200, seed: int = 1, **options) -> Flask:
    """A Shopify shop with ``orders`` seeded orders; see the module docstring for options."""
    shop = Shop(int(orders), int(seed), options)
    app = Flask(__name__)
    app.json.sort_keys = False
    state = common.install(app, is_api=lambda path: path.startswith("/admin/"),
                           error_body=lambda status, kind: jsonify(errors=ERRORS.get(status, kind)))
    shop.sim = state
    app.extensions["shopify_shop"] = shop
    shop.hooks = webhooks.Hooks(webhooks.Shopify(shop, options), options)
    webhooks.install(app, shop.hooks)
    _install_guards(app, shop, state)
    _install_api(app, shop)
    _install_webhook_api(app, shop, shop.hooks)
    _install_control(app, shop)
    _install_demo_page(app, shop, spare=common.is_spare(options))
    return app


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=1 << 14)  # a shop has few distinct amounts; seeding needs millions
def _money(value) -> str:
    return str(Decimal(str(value)).quantize(CENT, ROUND_HALF_UP))


def _money_set(amount: str, currency: str) -> dict:
    money = {"amount": amount, "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


# ---------------------------------------------------------------------------------------------
# The shop's state
# ---------------------------------------------------------------------------------------------


class Bucket:
    """Shopify's leaky bucket: ``size`` calls, draining ``leak`` per second."""

    def __init__(self, size: int, leak: float) -> None:
        self.size, self.leak, self.level, self.at = size, leak, 0.0, time.monotonic()

    def drain(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.at) * self.leak)
        self.at = now

    def take(self) -> float | None:
        """Count one call; the seconds to wait when the bucket is full, else None."""
        self.drain()
        if self.level + 1 > self.size:
            return (self.level + 1 - self.size) / self.leak
        self.level += 1
        return None

    def used(self) -> int:
        self.drain()
        return min(self.size, math.ceil(self.level - 1e-9))


class Shop:
    """Orders, products, tokens and the bucket; every access holds ``lock``."""

    def __init__(self, count: int, seed: int, options: dict) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.seed = seed
        self.basic_plan = _flag(options.get("basic_plan", "0"))
        self.token = str(options.get("token", "shpat_simulator"))
        self.client_id = str(options.get("client_id", "sim-client-id"))
        self.client_secret = str(options.get("client_secret", "sim-client-secret"))
        self.token_ttl = int(options.get("token_ttl", 86399))
        self.bucket = Bucket(int(options.get("bucket_size", 40)), float(options.get("leak_rate", 2)))
        self.currency = str(options.get("currency", "EUR")).upper()
        self.other_currency = str(options.get("other_currency", "USD")).upper()
        self.zone = ZoneInfo(str(options.get("timezone", "Europe/Berlin")))
        self.domain = str(options.get("domain", "orderdock-sim.myshopify.com"))
        now = options.get("now")
        self.now = (datetime.fromisoformat(now) if now else datetime.now(timezone.utc)).replace(microsecond=0)
        self.issued: dict[str, float] = {}  # exchanged token -> monotonic expiry
        self.orders: dict[int, dict] = {}
        self.last_id = 5_100_000_000
        self.sim = common.SimState()  # the app's, once ``create_app`` installed it
        self.hooks: webhooks.Hooks | None = None  # the app's, once ``create_app`` made it
        self.people = self._people(max(8, count // 3))
        self.products = self._products(int(options.get("products", 24)))
        self._seed_orders(count)

    # --- seeding ----------------------------------------------------------------------------

    def _people(self, count: int) -> list[dict]:
        folks = common.people(self.seed, count)
        for index, person in enumerate(folks):
            city = CITIES[index % len(CITIES)]
            person["customer_id"] = 8_100_000_000 + index * 131
            person["address"] = {"street": STREETS[index % len(STREETS)], "city": city}
        return folks

    def _products(self, count: int) -> list[dict]:
        products = []
        for index in range(count):
            pid = 7_200_000_000 + index * 97
            title = f"{ADJECTIVES[index % len(ADJECTIVES)]} {NOUNS[(index * 3) % len(NOUNS)]} {index + 1}"
            base = Decimal(self.rng.randrange(499, 8999)) / 100
            variants = [{"id": pid * 10 + k, "product_id": pid, "title": f"Option {k + 1}",
                         "sku": "" if (index + k) % 9 == 4 else f"SKU-{index + 1:03d}-{k + 1}",
                         "price": _money(base + k), "position": k + 1}
                        for k in range(1 + index % 3)]
            products.append({
                "id": pid, "title": title, "vendor": "Orderdock Supplies",
                "product_type": "" if index % 11 == 10 else TYPES[index % len(TYPES)],
                "body_html": f"<p>The <strong>{title}</strong> &amp; friends.</p>"
                             f"<ul><li>Fits most phones</li><li>2&nbsp;year warranty</li></ul>",
                "handle": title.lower().replace(" ", "-"), "status": "active", "tags": "",
                "created_at": self._time(self.now - timedelta(days=120)),
                "updated_at": self._time(self.now - timedelta(days=100)), "variants": variants,
                "admin_graphql_api_id": f"gid://shopify/Product/{pid}"})
        return products

    def _spread(self, weighted: list[tuple], count: int) -> list:
        """Every value once (so each appears), the rest by weight, shuffled."""
        values = [value for value, _ in weighted][:count]
        values += self.rng.choices([v for v, _ in weighted], [w for _, w in weighted],
                                   k=max(0, count - len(values)))
        self.rng.shuffle(values)
        return values

    def _seed_orders(self, count: int) -> None:
        ages = sorted((self.rng.uniform(600, 90 * 86400) for _ in range(count)), reverse=True)
        combos, buyers = self._spread(COMBOS, count), self._spread(BUYERS, count)
        currencies = self._spread([(self.other_currency, 1), (self.currency, 15)], count)
        for index, age in enumerate(ages):
            created = self.now - timedelta(seconds=age)
            order = self._build(created, buyers[index], currencies[index])
            financial, fulfillment, cancelled = combos[index]
            self._apply_state(order, financial, fulfillment, cancelled,
                              at=created + timedelta(seconds=min(age - 60, self.rng.uniform(60, 4 * 86400))))

    # --- building orders --------------------------------------------------------------------

    def _time(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).isoformat(timespec="seconds")

    def _next_id(self) -> int:
        return self.last_id + 1009 + self.rng.randrange(999)

    def _address(self, person: dict, phone: str | None) -> dict:
        city, province, code, zip_code, country, country_code = person["address"]["city"]
        return {"first_name": person["first_name"], "address1": person["address"]["street"],
                "phone": phone, "city": city, "zip": zip_code, "province": province,
                "country": country, "last_name": person["last_name"], "address2": "",
                "company": None, "latitude": None, "longitude": None,
                "name": f"{person['first_name']} {person['last_name']}",
                "country_code": country_code, "province_code": code}

    def _customer(self, person: dict, phone: str, at: str) -> dict:
        address = self._address(person, phone)
        address.update(id=person["customer_id"] + 7, customer_id=person["customer_id"],
                       country_name=address["country"], default=True)
        return {"id": person["customer_id"], "email": person["email"], "created_at": at,
                "updated_at": at, "first_name": person["first_name"],
                "last_name": person["last_name"], "state": "enabled", "note": None,
                "verified_email": True, "multipass_identifier": None, "tax_exempt": False,
                "phone": phone, "tags": "", "currency": self.currency, "tax_exemptions": [],
                "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": None,
                                            "consent_updated_at": None},
                "admin_graphql_api_id": f"gid://shopify/Customer/{person['customer_id']}",
                "default_address": address}

    def _buyer_fields(self, kind: str, number: int) -> dict:
        """The order's customer / contact / address fields for a buyer of this kind."""
        if kind == "none":  # a POS-like sale: nothing about the buyer at all
            return {"email": None, "contact_email": None, "phone": None,
                    "billing_address": None, "shipping_address": None}
        if kind == "returning":
            person = self.people[self.rng.randrange(min(len(self.people), 12))]
        else:
            person = self.people[self.rng.randrange(len(self.people))]
        if kind == "guest":  # a guest who left a name and street, but no e-mail or phone
            fields = {"email": "", "contact_email": None, "phone": None, "billing_address": None,
                      "shipping_address": self._address(person, None)}
            return fields if number % 2 else {**fields, "customer": None}
        phones = person["phones"]
        phone = phones[self.rng.randrange(len(phones))]
        ship_phone = phones[self.rng.randrange(len(phones))]
        return {"customer": self._customer(person, phone, self._time(self.now - timedelta(days=95))),
                "email": person["email"], "contact_email": person["email"],
                "phone": phone if number % 3 else None,
                "billing_address": self._address(person, ship_phone),
                "shipping_address": self._address(person, ship_phone)}

    def _lines(self, currency: str, order_id: int, wanted: list[dict] | None = None) -> list[dict]:
        picks = wanted or [{} for _ in range(1 + self.rng.randrange(3))]
        lines = []
        for position, pick in enumerate(picks):
            lines.append(self._line(currency, order_id * 10 + position + 1, pick))
        return lines

    def _line(self, currency: str, line_id: int, pick: dict) -> dict:
        quantity = int(pick.get("quantity") or 1 + self.rng.randrange(3))
        if not pick and self.rng.random() < 0.04:  # a custom line: no product behind it
            product, variant = None, {"id": None, "sku": None, "title": None, "price": "2.50"}
        else:
            product = self._product(pick.get("product_id"))
            variant = next((v for v in product["variants"] if v["id"] == pick.get("variant_id")),
                           None) or self.rng.choice(product["variants"])
        price = Decimal(variant["price"]) * (Decimal("1.1") if currency != self.currency else 1)
        title = product["title"] if product else "Gift wrapping"
        name = f"{title} - {variant['title']}" if variant["title"] else title
        return {"id": line_id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                "product_id": product["id"] if product else None, "variant_id": variant["id"],
                "sku": variant["sku"], "title": title, "variant_title": variant["title"],
                "name": name, "quantity": quantity, "current_quantity": quantity,
                "fulfillable_quantity": quantity, "fulfillment_status": None,
                "price": _money(price), "price_set": _money_set(_money(price), currency),
                "total_discount": "0.00", "vendor": product["vendor"] if product else None,
                "product_exists": product is not None, "requires_shipping": True,
                "taxable": True, "gift_card": False, "grams": 200, "properties": [],
                "tax_lines": [], "discount_allocations": [], "duties": []}

    def _product(self, product_id) -> dict:
        for product in self.products:
            if str(product["id"]) == str(product_id):
                return product
        return self.rng.choice(self.products)

    def _shipping_line(self, order_id: int, currency: str) -> dict:
        title, code, price, carrier = self.rng.choice(SHIPPING)
        return {"id": order_id + 3, "title": title, "code": code, "source": "shopify",
                "price": price, "price_set": _money_set(price, currency),
                "discounted_price": price, "carrier_identifier": carrier, "phone": None,
                "requested_fulfillment_service_id": None, "delivery_category": None,
                "tax_lines": [], "discount_allocations": []}

    def _build(self, created: datetime, buyer: str, currency: str, lines: list[dict] | None = None,
               order_id: int | None = None) -> dict:
        order_id = order_id or self._next_id()
        number = 1001 + len(self.orders)
        at = self._time(created)
        order = {"id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                 "name": f"#{number}", "number": number - 1000, "order_number": number,
                 "created_at": at, "updated_at": at, "processed_at": at, "closed_at": None,
                 "cancelled_at": None, "cancel_reason": None, "confirmed": True,
                 "currency": currency, "presentment_currency": currency,
                 "financial_status": "pending", "fulfillment_status": None,
                 "source_name": "web", "tags": "", "note": None, "note_attributes": [],
                 "test": False, "taxes_included": True, "discount_codes": [],
                 "token": f"{order_id:x}{self.seed:04x}",
                 "order_status_url": f"https://{self.domain}/orders/{order_id:x}/authenticate",
                 **self._buyer_fields(buyer, number)}
        order["line_items"] = self._lines(currency, order_id, lines)
        has_address = order.get("shipping_address") is not None
        order["shipping_lines"] = [self._shipping_line(order_id, currency)] if has_address else []
        order["fulfillments"], order["refunds"] = [], []
        self.orders[order_id] = order
        self.last_id = max(self.last_id, order_id)
        _totals(order)
        return order

    # --- changing orders --------------------------------------------------------------------

    def _apply_state(self, order: dict, financial: str | None, fulfillment: str | None,
                     cancelled: bool, at: datetime, reason: str = "customer") -> None:
        stamp = self._time(at)
        order["financial_status"], order["fulfillment_status"] = financial, fulfillment
        removed = cancelled or financial == "refunded"
        for position, line in enumerate(order["line_items"]):
            if removed:
                line["current_quantity"] = 0
            elif financial == "partially_refunded" and position == 0:
                line["current_quantity"] = max(0, line["quantity"] - 1)
            done = fulfillment == "fulfilled" or (fulfillment == "partial" and position == 0)
            line["fulfillment_status"] = "fulfilled" if done else None
            line["fulfillable_quantity"] = 0 if done or removed else line["current_quantity"]
        if cancelled:
            order["cancelled_at"], order["cancel_reason"] = stamp, reason
        if cancelled or (fulfillment == "fulfilled" and financial == "paid"):
            order["closed_at"] = stamp
        order["updated_at"] = stamp
        _totals(order)

    def touch(self, order: dict, event: str = "updated") -> None:
        """A change saved: ``updated_at`` is now, and the webhooks of ``event`` (a key of
        ``HOOK_TOPICS``) are sent. The caller holds ``lock``."""
        order["updated_at"] = self._time(datetime.now(timezone.utc))
        _totals(order)
        if self.hooks is not None:
            self.hooks.emit(order["id"], HOOK_TOPICS[event], lambda sub: self.webhook_body(order, sub))

    def webhook_body(self, order: dict, sub: webhooks.Subscription) -> bytes:
        """The order as the REST API renders it, bare, trimmed to the subscription's ``fields``."""
        shown = self.public(order)
        fields = sub.data.get("fields") or []
        if fields:
            shown = {key: value for key, value in shown.items() if key in fields}
        return webhooks.compact_json(shown)

    def add_order(self, body: dict) -> dict:
        created = body.get("created_at")
        moment = _parse_time(created, self.zone) if created else datetime.now(timezone.utc)
        currency = str(body.get("currency") or self.currency).upper()
        order = self._build(moment, str(body.get("buyer") or "returning"), currency,
                            lines=body.get("line_items") or None)
        if body.get("shipping_lines") is False:  # a manual order or a digital good: an address, no rate
            order["shipping_lines"] = []
        self._apply_state(order, body.get("financial_status", "paid"),
                          body.get("fulfillment_status"), bool(body.get("cancel")), at=moment)
        self.touch(order, "created")
        return order

    # --- reading ----------------------------------------------------------------------------

    def token_ok(self, token: str) -> bool:
        if token and secrets.compare_digest(token, self.token):
            return True
        return self.issued.get(token, 0.0) > time.monotonic()

    def public(self, order: dict) -> dict:
        """The order as the API shows it: redacted on the Basic plan (a copy), else the stored
        order itself, to be serialized while the caller holds ``lock``."""
        if not self.basic_plan:
            return order
        shown = copy.deepcopy(order)
        _redact(shown, ("null", "missing", "empty")[order["id"] % 3])
        return shown


def _totals(order: dict) -> None:
    currency = order["currency"]
    lines = order["line_items"]
    subtotal = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal(0))
    current = sum((Decimal(line["price"]) * line["current_quantity"] for line in lines), Decimal(0))
    shipping = sum((Decimal(line["price"]) for line in order["shipping_lines"]), Decimal(0))
    tax = (subtotal - subtotal / Decimal("1.19")).quantize(CENT, ROUND_HALF_UP)
    values = {"total_line_items_price": subtotal, "subtotal_price": subtotal,
              "current_subtotal_price": current, "total_price": subtotal + shipping,
              "current_total_price": current + (shipping if current else 0), "total_tax": tax,
              "current_total_tax": (current - current / Decimal("1.19")), "total_discounts": 0,
              "current_total_discounts": 0, "total_outstanding": 0}
    for key, value in values.items():
        order[key] = _money(value)
        order[f"{key}_set"] = _money_set(order[key], currency)
    order["total_shipping_price_set"] = _money_set(_money(shipping), currency)


def _redact(order: dict, form: str) -> None:
    """Protected customer data withheld, in one of the forms seen in the wild (A10)."""
    customer = order.get("customer")
    targets = [(order, PROTECTED_ORDER)]
    if isinstance(customer, dict):
        targets.append((customer, PROTECTED_CUSTOMER))
    for target, keys in targets:
        for key in keys:
            if key not in target:
                continue
            if form == "missing":
                del target[key]
            elif form == "null" or not isinstance(target[key], (str, dict)) or target[key] is None:
                target[key] = None
            elif isinstance(target[key], dict):
                target[key] = {k: ("" if isinstance(v, str) or v is None else v)
                               for k, v in target[key].items()}
            else:
                target[key] = ""


def _parse_time(text: str, zone) -> datetime:
    """ISO 8601; an unencoded "+" of an offset arrives as a space; no offset = shop time."""
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$", r"\1+\2", str(text).strip())
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@functools.lru_cache(maxsize=1 << 19)
def _timestamp(text: str, zone) -> float:
    """An order's time as a POSIX timestamp (remembered: listings compare every order's)."""
    return _parse_time(text, zone).timestamp()


# ---------------------------------------------------------------------------------------------
# Guards: token, bucket, headers
# ---------------------------------------------------------------------------------------------


def _install_guards(app: Flask, shop: Shop, state: common.SimState) -> None:
    @app.before_request
    def authorize_and_throttle():
        match = VERSION.match(request.path)
        if not match:
            return None
        with shop.lock:
            if not shop.token_ok(request.headers.get("X-Shopify-Access-Token", "")):
                return jsonify(errors=INVALID_TOKEN), 401
            wait = shop.bucket.take()
        if wait is None:
            return None
        with state.lock:
            state.stats["rate_limited"] += 1
        response = jsonify(errors=THROTTLED)
        response.status_code = 429
        response.headers["Retry-After"] = f"{max(wait, 0.1):.1f}"
        return response

    @app.after_request
    def shopify_headers(response: Response) -> Response:
        match = VERSION.match(request.path)
        if match:
            with shop.lock:
                response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{shop.bucket.used()}/{shop.bucket.size}"
            response.headers["X-Shopify-API-Version"] = match.group(1)
            response.headers["X-Request-Id"] = secrets.token_hex(8)
        return response


# ---------------------------------------------------------------------------------------------
# The Admin API
# ---------------------------------------------------------------------------------------------


def _bad_request(errors) -> tuple[Response, int]:
    return jsonify(errors=errors), 400


def _encode_cursor(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> dict | None:
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        return None
    ok = isinstance(payload, dict) and isinstance(payload.get("f"), dict) and payload.get("d") in ("next", "prev")
    return payload if ok and isinstance(payload.get("k"), int) else None


def _limit() -> int | tuple:
    text = request.args.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        return _bad_request({"limit": f"limit must be between 1 and {MAX_LIMIT}."})
    return int(text)


def _matching(rows, matches, filters: dict, sort_key) -> tuple[list[dict], list]:
    """The ``rows`` (already in display order) that match ``filters``, and their sort keys."""
    chosen = [row for row in rows if matches(row, filters)]
    return chosen, [sort_key(row) for row in chosen]


def _listing(select, sort_key, key: str, filters_from_args, present=None):
    """One page of a list with Shopify's cursor rules.

    ``select(filters)`` gives the matching rows in display order and their sort keys
    (``_matching``); ``sort_key(row)`` grows along the display order;
    ``filters_from_args()`` reads the first request's filters (or an error response);
    ``present(row)`` is what the API shows of a row (a copy, redacted).
    """
    limit = _limit()
    if not isinstance(limit, int):
        return limit
    cursor_text = request.args.get("page_info")
    if cursor_text is not None:
        extra = [name for name in request.args if name not in ("page_info", "limit", "fields")]
        if extra:
            return _bad_request({name: f"{name} cannot be passed when page_info is present."
                                 for name in extra})
        cursor = _decode_cursor(cursor_text)
        if cursor is None:
            return _bad_request({"page_info": "Invalid value."})
        filters = cursor["f"]
    else:
        filters, cursor = filters_from_args(), None
        if not isinstance(filters, dict):
            return filters
    matching, keys = select(filters)
    page = _slice(matching, keys, cursor, limit)
    links = _links(keys, page, sort_key, filters, limit, first=cursor is None)
    fields = [f for f in request.args.get("fields", "").split(",") if f.strip()]
    page = [present(row) for row in page] if present else page
    body = [{k: v for k, v in row.items() if k in fields} if fields else row for row in page]
    response = jsonify({key: body})
    if links:
        response.headers["Link"] = links
    return response


def _slice(matching: list[dict], keys: list, cursor: dict | None, limit: int) -> list[dict]:
    """The page after (or before) the cursor's key; ``keys`` are the rows' sort keys, ascending."""
    if cursor is None:
        return matching[:limit]
    if cursor["d"] == "next":
        start = bisect.bisect_right(keys, cursor["k"])
        return matching[start:start + limit]
    end = bisect.bisect_left(keys, cursor["k"])
    return matching[max(0, end - limit):end]


def _links(keys: list, page, sort_key, filters, limit, first: bool) -> str:
    if not page:
        return ""
    base = f"{request.host_url.rstrip('/')}{request.path}"
    fields = request.args.get("fields")
    tail = f"&limit={limit}" + (f"&fields={_quote(fields)}" if fields else "")
    parts = []
    low, high = sort_key(page[0]), sort_key(page[-1])
    if not first and keys[0] < low:
        cursor = _encode_cursor({"f": filters, "k": low, "d": "prev"})
        parts.append(f'<{base}?page_info={cursor}{tail}>; rel="previous"')
    if keys[-1] > high:
        cursor = _encode_cursor({"f": filters, "k": high, "d": "next"})
        parts.append(f'<{base}?page_info={cursor}{tail}>; rel="next"')
    return ", ".join(parts)


def _quote(text: str) -> str:
    return quote(text, safe="")


ORDER_FILTERS = ("status", "ids", "since_id", "created_at_min", "created_at_max", "updated_at_min",
                 "updated_at_max", "processed_at_min", "processed_at_max", "financial_status",
                 "fulfillment_status", "attribution_app_id", "name")


def _order_filters(shop: Shop):
    filters = {name: request.args[name] for name in ORDER_FILTERS if name in request.args}
    filters.setdefault("status", "open")
    if filters["status"] not in ("open", "closed", "cancelled", "any"):
        return _bad_request({"status": "status is not a valid value."})
    for name in [n for n in filters if n.endswith(("_min", "_max"))]:
        try:
            filters[name] = _parse_time(filters[name], shop.zone).timestamp()
        except ValueError:
            return _bad_request({name: f"{name} is not a valid date."})
    return filters


def _order_matches(shop: Shop):
    def matches(order: dict, f: dict) -> bool:
        status = f.get("status", "open")
        if status == "open" and (order["closed_at"] or order["cancelled_at"]):
            return False
        if (status == "closed" and not order["closed_at"]) or (status == "cancelled" and not order["cancelled_at"]):
            return False
        if "ids" in f and str(order["id"]) not in {i.strip() for i in str(f["ids"]).split(",")}:
            return False
        if "since_id" in f and order["id"] <= int(f["since_id"] or 0):
            return False
        if "name" in f and order["name"].lstrip("#") != str(f["name"]).lstrip("#"):
            return False
        return _times_match(order, f, shop.zone) and _states_match(order, f)
    return matches


def _times_match(order: dict, f: dict, zone) -> bool:
    for field in ("created_at", "updated_at", "processed_at"):
        if f"{field}_min" not in f and f"{field}_max" not in f:
            continue
        value = _timestamp(order[field], zone)
        if f"{field}_min" in f and value < f[f"{field}_min"]:
            return False
        if f"{field}_max" in f and value > f[f"{field}_max"]:
            return False
    return True


def _states_match(order: dict, f: dict) -> bool:
    financial = f.get("financial_status", "any")
    if financial == "unpaid":
        if order["financial_status"] not in ("pending", "authorized", "partially_paid"):
            return False
    elif financial != "any" and order["financial_status"] != financial:
        return False
    wanted, actual = f.get("fulfillment_status", "any"), order["fulfillment_status"]
    groups = {"shipped": ("fulfilled",), "partial": ("partial",), "unshipped": (None,),
              "unfulfilled": (None, "partial")}
    return wanted == "any" or actual in groups.get(wanted, (wanted,))


def _install_api(app: Flask, shop: Shop) -> None:
    prefix = "/admin/api/<version>"

    @app.errorhandler(404)
    def not_found(error):
        if request.path.startswith("/admin/"):
            return jsonify(errors="Not Found"), 404
        return error

    @app.get(f"{prefix}/shop.json")
    def shop_json(version):
        return jsonify(shop={
            "id": 690933842, "name": "Orderdock Simulator", "email": "owner@example.com",
            "domain": shop.domain, "myshopify_domain": shop.domain, "currency": shop.currency,
            "iana_timezone": shop.zone.key, "timezone": f"(GMT) {shop.zone.key}",
            "plan_name": "basic" if shop.basic_plan else "professional",
            "plan_display_name": "Basic" if shop.basic_plan else "Grow",
            "country_code": "DE", "created_at": shop._time(shop.now - timedelta(days=400))})

    @app.get(f"{prefix}/orders.json")
    def orders_json(version):
        def newest_first(order: dict) -> int:
            return -order["id"]

        def select(filters: dict) -> tuple[list[dict], list]:
            def matching() -> tuple[list[dict], list]:
                if "ids" in filters:  # only the orders named: a re-read by ids scans no more
                    named = {i.strip() for i in str(filters["ids"]).split(",")}
                    rows = [shop.orders[int(i)] for i in named
                            if i.isdigit() and str(int(i)) == i and int(i) in shop.orders]
                else:
                    rows = list(shop.orders.values())
                rows.sort(key=newest_first)
                return _matching(rows, _order_matches(shop), filters, newest_first)
            query = ("orders.json", json.dumps(filters, sort_keys=True))
            return shop.sim.selection(query, len(shop.orders), matching)

        with shop.lock:
            return _listing(select, newest_first, "orders", lambda: _order_filters(shop), present=shop.public)

    @app.get(f"{prefix}/orders/count.json")
    def orders_count(version):
        filters = _order_filters(shop)
        if not isinstance(filters, dict):
            return filters
        matches = _order_matches(shop)
        with shop.lock:
            return jsonify(count=sum(1 for o in shop.orders.values() if matches(o, filters)))

    @app.get(f"{prefix}/orders/<int:order_id>.json")
    def order_json(version, order_id):
        with shop.lock:
            order = shop.orders.get(order_id)
            return (jsonify(order=shop.public(order)) if order else (jsonify(errors="Not Found"), 404))

    @app.get(f"{prefix}/products.json")
    def products_json(version):
        def filters():
            return {name: request.args[name] for name in ("ids", "since_id", "product_type")
                    if name in request.args}

        def matches(product, f):
            if "ids" in f and str(product["id"]) not in {i.strip() for i in f["ids"].split(",")}:
                return False
            if "since_id" in f and product["id"] <= int(f["since_id"] or 0):
                return False
            return "product_type" not in f or product["product_type"] == f["product_type"]

        with shop.lock:
            return _listing(lambda f: _matching(shop.products, matches, f, lambda p: p["id"]),
                            lambda p: p["id"], "products", filters, present=copy.deepcopy)

    @app.get(f"{prefix}/products/<int:product_id>.json")
    def product_json(version, product_id):
        with shop.lock:
            product = next((p for p in shop.products if p["id"] == product_id), None)
            return jsonify(product=product) if product else (jsonify(errors="Not Found"), 404)

    @app.post("/admin/oauth/access_token")
    def access_token():
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body or {}
        grant_ok = body.get("grant_type") == "client_credentials"
        with shop.lock:
            known = (secrets.compare_digest(str(body.get("client_id", "")), shop.client_id)
                     and secrets.compare_digest(str(body.get("client_secret", "")), shop.client_secret))
            if not (grant_ok and known):
                return jsonify(error="invalid_client",
                               error_description="Client authentication failed."), 400
            token = "shpat_" + secrets.token_hex(16)
            shop.issued[token] = time.monotonic() + shop.token_ttl
        return jsonify(access_token=token, scope=SCOPES, expires_in=shop.token_ttl)


# ---------------------------------------------------------------------------------------------
# Webhook subscriptions: webhooks.json (REST Admin API)
# ---------------------------------------------------------------------------------------------


def _install_webhook_api(app: Flask, shop: Shop, hooks: webhooks.Hooks) -> None:
    """``POST|GET webhooks.json``, ``GET webhooks/count.json``, ``GET|PUT|DELETE
    webhooks/<id>.json``. 422 ``{"errors": {field: [messages]}}`` for a blank or unknown topic,
    a duplicate topic + address, or an address that is not https (the simulator also takes
    http to a loopback host: 127.0.0.1, localhost, ::1)."""
    prefix = "/admin/api/<version>"

    def resource(sub: webhooks.Subscription) -> dict:
        def stamp(moment: float) -> str:
            return shop._time(datetime.fromtimestamp(moment, timezone.utc))
        return {"id": sub.id, "address": sub.url, "topic": sub.topic, "created_at": stamp(sub.created),
                "updated_at": stamp(sub.updated), "format": sub.data.get("format", "json"),
                "fields": sub.data.get("fields", []),
                "metafield_namespaces": sub.data.get("metafield_namespaces", []),
                "api_version": sub.data.get("api_version"), "private_metafield_namespaces": []}

    def invalid(errors: dict) -> tuple[Response, int]:
        return jsonify(errors=errors), 422

    def check(address, topic, fmt, other: int | None = None) -> dict:
        errors: dict[str, list[str]] = {}
        if not topic:
            errors.setdefault("topic", []).append("can't be blank")
        elif topic not in WEBHOOK_TOPICS:
            errors.setdefault("topic", []).append(
                f"Invalid topic specified: {topic}. Does it exist? Is there a missing access scope? "
                f"Topics allowed: {', '.join(WEBHOOK_TOPICS)}")
        if not address:
            errors.setdefault("address", []).append("can't be blank")
        else:
            parts = urlsplit(str(address))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                errors.setdefault("address", []).append("is invalid")
            elif parts.scheme == "http" and not webhooks.is_loopback(parts.hostname):
                errors.setdefault("address", []).append("protocol http:// is not supported")
            elif any(s.topic == topic and s.url == address and s.id != other for s in hooks.all()):
                errors.setdefault("address", []).append("for this topic has already been taken")
        if fmt not in ("json", "xml"):
            errors.setdefault("format", []).append("is not included in the list")
        return errors

    def given() -> dict | None:
        body = request.get_json(silent=True)
        webhook = body.get("webhook") if isinstance(body, dict) else None
        return webhook if isinstance(webhook, dict) else None

    def listed(value) -> list[str]:
        return [str(v) for v in value] if isinstance(value, list) else []

    def missing() -> tuple[Response, int]:
        return jsonify(errors={"webhook": "Required parameter missing or invalid"}), 400

    @app.post(f"{prefix}/webhooks.json")
    def create_webhook(version):
        webhook = given()
        if webhook is None:
            return missing()
        address, topic = str(webhook.get("address") or ""), str(webhook.get("topic") or "")
        fmt = str(webhook.get("format") or "json")
        errors = check(address, topic, fmt)
        if errors:
            return invalid(errors)
        sub = hooks.add(topic, address, first_id=WEBHOOK_ID_START, api_version=version, format=fmt,
                        fields=listed(webhook.get("fields")),
                        metafield_namespaces=listed(webhook.get("metafield_namespaces")))
        return jsonify(webhook=resource(sub)), 201

    @app.get(f"{prefix}/webhooks.json")
    def list_webhooks(version):
        limit = _limit()
        if not isinstance(limit, int):
            return limit
        rows = [s for s in hooks.all()
                if ("address" not in request.args or s.url == request.args["address"])
                and ("topic" not in request.args or s.topic == request.args["topic"])
                and s.id > int(request.args.get("since_id") or 0)]
        return jsonify(webhooks=[resource(s) for s in rows[:limit]])

    @app.get(f"{prefix}/webhooks/count.json")
    def count_webhooks(version):
        return jsonify(count=sum(1 for s in hooks.all()
                                 if ("address" not in request.args or s.url == request.args["address"])
                                 and ("topic" not in request.args or s.topic == request.args["topic"])))

    @app.get(f"{prefix}/webhooks/<int:sub_id>.json")
    def get_webhook(version, sub_id):
        sub = hooks.get(sub_id)
        return jsonify(webhook=resource(sub)) if sub else (jsonify(errors="Not Found"), 404)

    @app.put(f"{prefix}/webhooks/<int:sub_id>.json")
    def update_webhook(version, sub_id):
        sub = hooks.get(sub_id)
        if sub is None:
            return jsonify(errors="Not Found"), 404
        webhook = given()
        if webhook is None:
            return missing()
        address = str(webhook.get("address") or sub.url)
        fmt = str(webhook.get("format") or sub.data.get("format", "json"))
        errors = check(address, sub.topic, fmt, other=sub.id)
        if errors:
            return invalid(errors)
        with hooks.lock:
            sub.url, sub.data["format"], sub.updated = address, fmt, time.time()
            for key in ("fields", "metafield_namespaces"):
                if key in webhook:
                    sub.data[key] = listed(webhook[key])
        return jsonify(webhook=resource(sub))

    @app.delete(f"{prefix}/webhooks/<int:sub_id>.json")
    def delete_webhook(version, sub_id):
        return jsonify({}) if hooks.remove(sub_id) else (jsonify(errors="Not Found"), 404)


# ---------------------------------------------------------------------------------------------
# The control API
# ---------------------------------------------------------------------------------------------


SUMMARY = ("id", "name", "created_at", "updated_at", "financial_status", "fulfillment_status",
           "cancelled_at", "closed_at", "currency")


def _install_control(app: Flask, shop: Shop) -> None:
    def order_or_404(order_id: int):
        order = shop.orders.get(order_id)
        if order is None:
            return None, (jsonify(error=f"no order {order_id}"), 404)
        return order, None

    @app.get("/_sim/orders")
    def sim_orders():
        full = _flag(request.args.get("full", "0"))
        with shop.lock:
            rows = sorted(shop.orders.values(), key=lambda o: -o["id"])
            return jsonify([o if full else {k: o[k] for k in SUMMARY} for o in rows])

    @app.get("/_sim/orders/<int:order_id>")
    def sim_order(order_id):
        with shop.lock:
            order, error = order_or_404(order_id)
            return error or jsonify(order)

    @app.post("/_sim/orders")
    def sim_add_order():
        with shop.lock:
            return jsonify(shop.add_order(request.get_json(silent=True) or {})), 201

    @app.post("/_sim/orders/<int:order_id>/line_items/<int:line_id>")
    def sim_quantity(order_id, line_id):
        quantity = int((request.get_json(force=True) or {})["quantity"])
        with shop.lock:
            order, error = order_or_404(order_id)
            if error:
                return error
            line = next((li for li in order["line_items"] if li["id"] == line_id), None)
            if line is None:
                return jsonify(error=f"no line {line_id}"), 404
            _edit_quantity(shop, order, line, quantity)
            return jsonify(order)

    @app.post("/_sim/orders/<int:order_id>/state")
    def sim_state(order_id):
        body = request.get_json(force=True) or {}
        with shop.lock:
            order, error = order_or_404(order_id)
            if error:
                return error
            cancelling = bool(body.get("cancel")) and not order["cancelled_at"]
            shop._apply_state(order, body.get("financial_status", order["financial_status"]),
                              body.get("fulfillment_status", order["fulfillment_status"]),
                              bool(body.get("cancel")) or bool(order["cancelled_at"]),
                              at=datetime.now(timezone.utc), reason=body.get("cancel_reason", "customer"))
            if body.get("close"):
                order["closed_at"] = order["updated_at"]
            shop.touch(order, "cancelled" if cancelling else "updated")
            return jsonify(order)

    @app.post("/_sim/orders/<int:order_id>/shipping")
    def sim_shipping(order_id):
        body = request.get_json(force=True) or {}
        with shop.lock:
            order, error = order_or_404(order_id)
            if error:
                return error
            _change_shipping(shop, order, body)
            shop.touch(order)
            return jsonify(order)

    @app.post("/_sim/tokens/expire")
    def sim_expire_tokens():
        with shop.lock:
            shop.issued = dict.fromkeys(shop.issued, 0.0)
            return jsonify(expired=len(shop.issued))

    @app.post("/_sim/bucket")
    def sim_bucket():
        body = request.get_json(force=True) or {}
        with shop.lock:
            bucket = shop.bucket
            bucket.drain()
            bucket.size = int(body.get("size", bucket.size))
            bucket.leak = float(body.get("leak_rate", bucket.leak))
            bucket.level = float(body.get("level", bucket.level))
            return jsonify(size=bucket.size, leak_rate=bucket.leak, level=bucket.level)

    @app.post("/_sim/plan")
    def sim_plan():
        with shop.lock:
            shop.basic_plan = bool((request.get_json(force=True) or {}).get("basic_plan"))
            return jsonify(basic_plan=shop.basic_plan)


def _edit_quantity(shop: Shop, order: dict, line: dict, quantity: int) -> None:
    """An order edit: ``current_quantity`` becomes ``quantity`` (``quantity`` rises if below)."""
    line["current_quantity"] = quantity
    line["quantity"] = max(line["quantity"], quantity)
    line["fulfillable_quantity"] = 0 if line["fulfillment_status"] else quantity
    shop.touch(order, "edited")


def _change_shipping(shop: Shop, order: dict, body: dict) -> None:
    currency = order["currency"]
    if not order["shipping_lines"]:
        order["shipping_lines"] = [shop._shipping_line(order["id"], currency)]
    line = order["shipping_lines"][0]
    for key in ("title", "code", "carrier_identifier"):
        if key in body:
            line[key] = body[key]
    if "price" in body:
        line["price"] = line["discounted_price"] = _money(body["price"])
        line["price_set"] = _money_set(line["price"], currency)
    if isinstance(body.get("address"), dict):
        address = order.get("shipping_address") or {}
        address.update(body["address"])
        order["shipping_address"] = address


# ---------------------------------------------------------------------------------------------
# The demo page (GET /_sim/): the same changes as the control API, one button each
# ---------------------------------------------------------------------------------------------


def _install_demo_page(app: Flask, shop: Shop, spare: bool) -> None:
    # No "Next status": Orderdock does not sync Shopify's financial / fulfilment states.
    # The access: the custom app's token, enough on its own (the Dev Dashboard pair is optional).
    common.install_demo_page(app, "Shopify", lambda: _demo_orders(shop), [
        common.DemoAction("add", "Add a new order", lambda: _demo_add(shop), per_order=False),
        common.DemoAction("quantity", "Quantity +1", lambda order_id: _demo_quantity(shop, order_id)),
        common.DemoAction("delivery", "Change delivery", lambda order_id: _demo_shipping(shop, order_id)),
    ], access=lambda: [("Admin API access token", shop.token)], spare=spare,
        webhooks=shop.hooks.neutral if shop.hooks else None)


def _demo_orders(shop: Shop) -> list[dict]:
    with shop.lock:
        newest = sorted(shop.orders.values(), key=lambda o: -o["id"])
        return [{"id": o["id"], "number": o["name"], "created": o["created_at"], "status": _state_text(o),
                 "total": f"{o['current_total_price']} {o['currency']}"} for o in newest]


def _state_text(order: dict) -> str:
    ended = "cancelled" if order["cancelled_at"] else ("closed" if order["closed_at"] else "open")
    return f"{ended}, {order['financial_status']}, {order['fulfillment_status'] or 'unfulfilled'}"


def _demo_add(shop: Shop) -> str:
    """A paid, unfulfilled order of a returning customer (phone and e-mail) in the shop's currency."""
    with shop.lock:
        picks = shop.rng.sample(shop.products, 1 + shop.rng.randrange(2))
        order = shop.add_order({"buyer": "returning", "line_items": [
            {"product_id": product["id"], "quantity": 1 + shop.rng.randrange(2)} for product in picks]})
        customer = order["customer"]
        return (f"Added order {order['name']} (id {order['id']}): {customer['first_name']} "
                f"{customer['last_name']}, {common.plural(len(picks), 'product')}, "
                f"{order['current_total_price']} {order['currency']}.")


def _demo_quantity(shop: Shop, order_id: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, order_id)
        if not order["line_items"]:
            raise common.DemoError(f"Order {order['name']} has no lines.")
        line, total = order["line_items"][0], order["current_total_price"]
        before = line["current_quantity"]
        _edit_quantity(shop, order, line, before + 1)
        return (f"Order {order['name']}: {line['name']} quantity {before} → {line['current_quantity']}, "
                f"total {total} → {order['current_total_price']} {order['currency']}.")


def _demo_shipping(shop: Shop, order_id: int) -> str:
    """The order's shipping switched to the shop's next rate (title, code, price, carrier)."""
    with shop.lock:
        order = common.demo_order(shop.orders, order_id)
        lines = order["shipping_lines"]
        before = f"{lines[0]['title']} {lines[0]['price']}" if lines else "none"
        titles = [rate[0] for rate in SHIPPING]
        title, code, price, carrier = SHIPPING[titles.index(
            common.next_in(titles, lines[0]["title"] if lines else None))]
        _change_shipping(shop, order, {"title": title, "code": code, "price": price,
                                       "carrier_identifier": carrier})
        shop.touch(order)
        return f"Order {order['name']}: shipping {before} → {title} {price} {order['currency']}."
