"""A loopback Cartum shop that speaks Cartum's public API as ``shared/platforms/cartum.md``
describes it (Cartum = Horoshop's international brand, same API). It imports nothing from
``webapp``.

The API (fact sheet A.1-A.6, A.8). Every function is ``POST /api/<function>/`` with a JSON
body (form posts and GET work too, as on the real shop), and every answer is HTTP 200 with
``{"status": ..., "response": ...}`` - errors included:

* ``auth`` ``{login, password}`` -> ``OK`` ``{token: <32 hex>}``; wrong credentials ->
  ``ERROR`` ``{message: "User with the specified login/password does not exist"}``.
  A token lives ``token_ttl`` seconds (600 as on Cartum) and is sent in the body as
  ``token``; a missing, unknown or stale one -> ``UNAUTHORIZED`` ``{message: "token expired"}``.
* ``orders/get`` ``{ids, status, from, to, limit, offset}`` -> ``OK`` ``{orders: [...]}`` or
  ``EMPTY`` ``{orders: []}``. Sorted by order number. ``from``/``to`` are inclusive, in the
  store's time zone, as ``YYYY-MM-DD``, ``DD.MM.YYYY`` or either with ``HH:MM:SS`` (a date
  alone as ``to`` means the whole day); ``offset`` works only together with ``limit``.
* ``orders/get_available_statuses`` -> ``{statuses: {"1": {id, title: {<lang>: ...},
  is_successful}, ...}}``: the built-in 1, 2, 3 (successful), 4, 6 and a custom 8 "Paid".
* ``orders/update`` ``{orders: [{order_id, status, tracking_code?, paid?|payed?}]}`` ->
  ``OK`` with a ``log`` of ``{order_id, status: "OK", message: "UPDATED"}``, or
  ``WARNING`` when some record failed (unknown order, undefined status, or a cancelled
  order, which Cartum keeps read-only).
* ``catalog/export`` ``{expr: {article | parent: {id} | id}, offset, limit (default and
  max 500, 0 gives nothing), includedParams, excludedParams}`` -> ``{products: [...]}``
  with ``title``/``description``/``short_description`` per language and ``parent``
  ``{id, value, title: {<lang>: ...}}`` (the shape of ``parent`` is the fact sheet's
  assumption: id + name; ``title`` per language is ours). ``article``, ``parent_article``
  and ``parent`` always come back.
* ``hooks/subscribe`` ``{event, target_url}`` -> HTTP 201 ``{"id": N}`` outside the envelope
  (events ``HOOK_EVENTS``; at most 5 subscribers per event, then ``ERROR`` "Subscriptions
  limit for current event has been reached"); ``hooks/unSubscribe`` ``{id, target_url}`` ->
  HTTP 410 ``{"id": N}``. Only ``order_created`` and ``order_update`` are ever sent (PUT, the
  order as ``orders/get`` gives it, through a queue a cron flushes): ``simulators.webhooks``.
* any other function -> ``UNDEFINED_FUNCTION`` with ``response: []``.

Seeded data (``create_app(orders=N, seed=S)``, the same seed gives the same shop): N orders
spread over the last 90 days in every status; buyers from ``common.people`` who come back
with their phone written another way, plus Ukrainian buyers written "Surname Given" (one
with a patronymic); guest orders without phone or e-mail (some without any name); about
one order in 20 in another currency; products with articles, categories and texts in
every configured language (one product's "ro" texts are empty, as a switched-off
language answers); lines without an article, and gift lines whose ``total_price`` is 0;
the shop's own delivery methods (``delivery_data`` empty) and built-in carriers
(Nova Poshta, Ukrposhta with "@"-separated addresses, ``delivery_data`` naming the
operator); ``delivery_price`` -1 ("calculated at the carrier's rates") on carriers and
on some own-courier orders.

Options (strings are accepted, as ``python -m simulators cartum --option k=v`` gives):

* ``login`` / ``password`` - the administrator (default ``manager`` / ``cartum-demo``);
* ``token_ttl`` - seconds a token lives (default 600; tests use ~1);
* ``no_api`` - a shop whose plan has no API: ``1`` (or ``404``) answers every ``/api/``
  path with HTTP 404 and the shop's HTML "page not found"; ``html`` answers HTTP 200 with
  the storefront's HTML page;
* ``legacy`` - ``1``: a store older than v4.0 (``orders/get_available_statuses`` is
  ``UNDEFINED_FUNCTION``, as after ``/_sim/undefined`` below);
* ``timezone`` - the store's zone for ``stat_created`` and ``from``/``to`` (Europe/Kyiv);
* ``currency`` - the shop's currency (EUR); a few orders come in another one;
* ``languages`` - comma-separated language keys (``en,ro,ua``; ``de`` is known too);
* ``rate_limit`` - ``N/S``: at most N API calls per S seconds, then HTTP 429 + Retry-After;
* webhooks (``simulators.webhooks``): ``plan`` (``pro``; any other plan delivers none),
  ``hook_flush_seconds`` (300: the cron that sends the queue), ``hook_retry_seconds`` (1),
  ``hook_timeout_seconds`` (10), ``hook_update_on`` (``status``: ``order_update`` on a status
  change to anything but New; ``any``: on every change).

Control API (``/_sim/``; the shared request log, faults and rate limit come from
``common.install``, its fault bodies in Cartum's envelope). Added here, JSON bodies:

* ``GET /_sim/orders`` -> ``{orders: [{order_id, stat_status, stat_created, currency}]}``;
  ``GET /_sim/orders/<id>`` -> the order as the API gives it.
* ``POST /_sim/orders`` ``{products: [{article, quantity}], status?, delivery_name?,
  delivery_phone?, delivery_email?, currency?, stat_created?, delivery_type_id?}`` -> adds
  an order created now (unless ``stat_created`` is given) -> ``{order: ...}``.
* ``POST /_sim/orders/<id>/quantity`` ``{article | index, quantity}`` -> sets that line's
  quantity (0 removes the line) and the totals.
* ``POST /_sim/orders/<id>/status`` ``{status}`` -> as a manager would in the admin.
* ``POST /_sim/orders/<id>/delivery`` ``{type_id?, title?, price?, city?, address?}`` ->
  changes the delivery method (a known ``type_id`` brings its title and carrier data),
  cost, city or address.
* ``POST /_sim/tokens/expire`` -> every token issued so far is stale.
* ``POST /_sim/unauthorized`` ``{count}`` -> the next ``count`` token-checked calls answer
  ``UNAUTHORIZED`` whatever token they carry.
* ``POST /_sim/undefined`` ``{functions: [...]}`` -> these functions answer
  ``UNDEFINED_FUNCTION`` from now on, as on an older store (``[]`` restores them).
* ``GET /_sim/`` -> the "demo shop control" HTML page (``common.install_demo_page``): add an
  order; per order Quantity +1, Next status (Processing <-> Paid) and Change delivery (price).
  It shows the Website URL, login and password to connect the shop with; option ``spare=1``
  says it is not connected (the shop `make run` leaves for a newcomer to try the wizard).
"""
from __future__ import annotations

import functools
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request

from simulators import common, webhooks

STATUSES = {
    1: ({"en": "New", "ro": "Nou", "ua": "Новий", "de": "Neu"}, 0),
    2: ({"en": "Processing", "ro": "În procesare", "ua": "В обробці", "de": "In Bearbeitung"}, 0),
    3: ({"en": "Delivered", "ro": "Livrat", "ua": "Доставлено", "de": "Zugestellt"}, 1),
    4: ({"en": "Canceled", "ro": "Anulat", "ua": "Скасовано", "de": "Storniert"}, 0),
    6: ({"en": "Shipping", "ro": "În livrare", "ua": "Відправлено", "de": "Versandt"}, 0),
    8: ({"en": "Paid", "ro": "Plătit", "ua": "Оплачено", "de": "Bezahlt"}, 0),
}
CANCELLED = 4
DEMO_STATUSES = (2, 8)  # Processing <-> Paid: the open statuses the demo page's button cycles
CLOSED_STATUSES = (3, 4)  # Delivered, Canceled
DEMO_DELIVERY_PRICES = (0, 50, 80, 120)  # own courier prices the demo page's button cycles
STATUS_WEIGHTS = {1: 3, 2: 3, 3: 6, 4: 1, 6: 2, 8: 1}

CATEGORIES = [
    (101, {"en": "Phones", "ro": "Telefoane", "ua": "Телефони", "de": "Telefone"}),
    (102, {"en": "Cases", "ro": "Huse", "ua": "Чохли", "de": "Hüllen"}),
    (103, {"en": "Chargers", "ro": "Încărcătoare", "ua": "Зарядні пристрої", "de": "Ladegeräte"}),
    (104, {"en": "Headphones", "ro": "Căști", "ua": "Навушники", "de": "Kopfhörer"}),
    (105, {"en": "Spare parts", "ro": "Piese de schimb", "ua": "Запчастини", "de": "Ersatzteile"}),
]
NOUNS = {
    101: {"en": "Smartphone", "ro": "Smartphone", "ua": "Смартфон", "de": "Smartphone"},
    102: {"en": "Leather case", "ro": "Husă din piele", "ua": "Шкіряний чохол", "de": "Lederhülle"},
    103: {"en": "Fast charger", "ro": "Încărcător rapid", "ua": "Швидкий зарядний", "de": "Schnellladegerät"},
    104: {"en": "Wireless earbuds", "ro": "Căști wireless", "ua": "Бездротові навушники",
          "de": "Funk-Ohrhörer"},
    105: {"en": "Replacement screen", "ro": "Ecran de schimb", "ua": "Запасний екран",
          "de": "Ersatzbildschirm"},
}
PHRASES = {"en": "Reliable and well made", "ro": "Fiabil și bine lucrat",
           "ua": "Надійний і якісний", "de": "Zuverlässig und gut verarbeitet"}
MODELS = ["A1", "B7", "C3", "Pro", "Lite"]

OWN_COURIER = {"id": 12, "title": "Own courier"}
PICKUP = {"id": 14, "title": "Pickup at the shop"}
NOVA_POSHTA = {"id": 3, "title": "Nova Poshta"}
UKRPOSHTA = {"id": 5, "title": "Ukrposhta"}
DELIVERY_TYPES = {d["id"]: d for d in (OWN_COURIER, PICKUP, NOVA_POSHTA, UKRPOSHTA)}
CARRIER_OPERATOR = {3: "novaposhta", 5: "ukrposhta"}
PAYMENTS = [{"id": 13, "title": "Cash on delivery"}, {"id": 14, "title": "Card online"}]
CITIES = ["Київ", "Львів", "Одеса", "Berlin", "Chișinău"]
STREETS = ["вул. Хрещатик", "Hauptstraße", "Strada Mihai Eminescu", "вул. Шевченка"]
UKRAINIAN_BUYERS = [("Тарас", "Шевченко", ""), ("Олена", "Коваленко", "Петрівна"),
                    ("Андрій", "Бондарчук", "")]

# Webhooks (hooks/subscribe): the events a subscription may name; only the first two are sent.
HOOK_EVENTS = ("order_created", "order_update", "order_paid", "user_signup", "user_update",
               "request_call_me", "comments_created")
HOOK_LIMIT = 5  # subscriptions per event
NEW = 1  # order_update is not sent for a change to status 1 (New)

NOT_FOUND_PAGE = "<!doctype html><html><body><h1>404</h1><p>Page not found</p></body></html>"
STOREFRONT_PAGE = "<!doctype html><html><body><h1>My shop</h1><p>Welcome!</p></body></html>"


def create_app(orders: int = 200, seed: int = 1, **options: Any) -> Flask:
    """A Flask app playing one Cartum shop; see the module docstring for the options."""
    shop = Shop(int(orders), int(seed), options)
    app = Flask(__name__)
    app.json.ensure_ascii = False  # Cartum answers in UTF-8
    app.json.sort_keys = False
    app.extensions["cartum_shop"] = shop
    shop.sim = common.install(app, is_api=lambda path: path.startswith("/api/"),
                              rate_limit=_rate_limit(options.get("rate_limit")), error_body=error_body)
    shop.hooks = webhooks.Hooks(webhooks.Cartum(options), options)
    webhooks.install(app, shop.hooks)
    _api_routes(app, shop)
    _control_routes(app, shop)
    _demo_page(app, shop, spare=common.is_spare(options))
    return app


def error_body(status: int, kind: str) -> Response:
    """A shared fault (401, 429, 5xx, ...) in Cartum's envelope."""
    label = {401: "UNAUTHORIZED", 403: "AUTHORIZATION_ERROR", 404: "UNDEFINED_FUNCTION",
             429: "ERROR"}.get(status, "EXCEPTION")
    return jsonify(status=label, response={"message": f"simulated {kind}"})


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on", "404", "html")


def _rate_limit(value: Any) -> tuple[int, float] | None:
    if not value:
        return None
    count, _, seconds = str(value).partition("/")
    return int(count), float(seconds or 1)


def _money(value: float) -> float | int:
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


class Shop:
    """The shop's data and sessions, behind one lock (the server is threaded)."""

    def __init__(self, count: int, seed: int, options: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.login = str(options.get("login", "manager"))
        self.password = str(options.get("password", "cartum-demo"))
        self.token_ttl = float(options.get("token_ttl", 600))
        no_api = str(options.get("no_api", "")).strip().lower()
        self.no_api = "html" if no_api == "html" else ("404" if _flag(no_api) else "")
        legacy = _flag(options.get("legacy", ""))
        self.undefined = {"orders/get_available_statuses"} if legacy else set()
        self.zone = ZoneInfo(str(options.get("timezone", "Europe/Kyiv")))
        self.currency = str(options.get("currency", "EUR")).upper()
        self.other_currency = "USD" if self.currency != "USD" else "EUR"
        languages = str(options.get("languages", "en,ro,ua")).split(",")
        self.languages = [lang.strip() for lang in languages if lang.strip()] or ["en"]
        self.tokens: dict[str, float] = {}
        self.unauthorized_left = 0
        self.rng = random.Random(seed)
        self.products = self._seed_products()
        self.orders: dict[int, dict] = {}
        self.last_number = 0
        self.sim = common.SimState()  # the app's, once ``create_app`` installed it
        self.hooks: webhooks.Hooks | None = None  # the app's, once ``create_app`` made it
        self.plan = str(options.get("plan", "pro")).strip().lower()
        self.update_on_any = str(options.get("hook_update_on", "status")).strip().lower() == "any"
        self.buyers = self._buyers(seed, max(6, count // 5))  # kept: the demo page's buyers too
        self._seed_orders(count)

    # --- seeding ----------------------------------------------------------------------------

    def texts(self, by_language: dict[str, str]) -> dict[str, str]:
        return {lang: by_language.get(lang, by_language["en"]) for lang in self.languages}

    def _seed_products(self) -> dict[str, dict]:
        products = {}
        for i in range(20):
            cat_id, cat_title = CATEGORIES[i % len(CATEGORIES)]
            model = MODELS[(i // len(CATEGORIES)) % len(MODELS)]
            article = f"CT-{1001 + i}"
            title = {lang: f"{noun} {model}" for lang, noun in NOUNS[cat_id].items()}
            description = {lang: f'<p style="color:#333">{PHRASES[lang]}: <b>{title[lang]}</b>.</p>'
                                 f"<ul><li>{article}</li></ul>" for lang in PHRASES}
            product = {"article": article, "parent_article": "", "article_for_display": article,
                       "title": self.texts(title), "description": self.texts(description),
                       "short_description": self.texts({k: v.split(":")[0] for k, v in PHRASES.items()}),
                       "parent": {"id": cat_id, "value": cat_title["en"], "title": self.texts(cat_title)},
                       "price": _money(self.rng.choice([19.9, 49, 129.5, 299, 899])),
                       "price_old": 0, "discount": 0, "display_in_showcase": 1,
                       "creation_time": "2025-01-10 09:00:00"}
            products[article] = product
        switched_off = products["CT-1002"]  # a language switched off answers ""
        for field in ("title", "description", "short_description"):
            if "ro" in switched_off[field]:
                switched_off[field]["ro"] = ""
        return products

    def _buyers(self, seed: int, count: int) -> list[dict]:
        folks = [{"name": f"{p['first_name']} {p['last_name']}", "phones": p["phones"], "email": p["email"]}
                 for p in common.people(seed, count)]
        for i, (first, last, patronymic) in enumerate(UKRAINIAN_BUYERS):
            digits = f"{67 + i}{1234567 + 1111 * i}"
            folks.append({"name": " ".join(w for w in (last, first, patronymic) if w),
                          "phones": common.phone_variants(digits), "email": ""})
        return folks

    def _seed_orders(self, count: int) -> None:
        now = datetime.now(timezone.utc)
        ages = sorted((self.rng.uniform(300, 90 * 86400) for _ in range(count)), reverse=True)
        folks = self.buyers
        visits: dict[int, int] = {}
        status_ids = list(STATUS_WEIGHTS)
        for i, age in enumerate(ages):
            created = (now - timedelta(seconds=age)).astimezone(self.zone).replace(tzinfo=None)
            status = status_ids[i] if i < len(status_ids) else self.rng.choices(
                status_ids, weights=list(STATUS_WEIGHTS.values()))[0]
            who = self.rng.randrange(len(folks))
            visits[who] = visits.get(who, 0) + 1
            self._add(self._seeded_order(i, created, status, folks[who], visits[who]))

    def _seeded_order(self, i: int, created: datetime, status: int, person: dict, visit: int) -> dict:
        rng = self.rng
        phones = person["phones"]
        name, phone, email = person["name"], phones[(visit - 1) % len(phones)], person["email"]
        if i % 25 == 7:
            name = phone = email = ""  # a guest who left nothing
        elif i % 25 == 19:
            phone = email = ""  # a guest who left only a name
        kind = rng.choice([OWN_COURIER, OWN_COURIER, PICKUP, NOVA_POSHTA, UKRPOSHTA])
        language = rng.choice(self.languages)
        lines = [self._line(article, rng.randint(1, 3), language)
                 for article in rng.sample(sorted(self.products), rng.randint(1, 3))]
        if i % 9 == 4:
            gift = self.products[rng.choice(sorted(self.products))]
            lines.append({**self._line(gift["article"], 1, language), "total_price": 0, "type": "gift"})
        if i % 11 == 5:
            lines.append({"article": "", "title": "Gift wrapping", "price": 25, "quantity": 1,
                          "total_price": 25, "type": "product", "discount_marker": "NONE",
                          "storage_id": None, "parent_storage_id": None})
        order = {
            "order_id": 0, "user": rng.randrange(10000, 99999),
            "delivery_name": name, "delivery_email": email, "delivery_phone": phone,
            "comment": rng.choice(["", "", "Call before delivery"]),
            "payment_type": rng.choice(PAYMENTS), "payment_price": 0, "payed": rng.randint(0, 1),
            "discount_percent": 0, "discount_value": 0, "coupon_code": "",
            "stat_status": status, "stat_created": created.strftime("%Y-%m-%d %H:%M:%S"),
            "currency": self.other_currency if i % 20 == 11 else self.currency,
            "manager_id": None, "manager_comment": "", "order_without_callback": 0,
            "analytics": {"utm_source": "(direct)", "utm_medium": "(none)", "utm_campaign": ""},
            "products": lines, "additional_data": {},
        }
        city = rng.choice(CITIES)
        address = f"{rng.choice(STREETS)}, {rng.randint(1, 120)}"
        self._set_delivery(order, kind["id"], city=city, address=address)
        if kind is OWN_COURIER:
            order["delivery_price"] = rng.choice([0, 80, -1])
        elif kind is PICKUP:
            order["delivery_price"], order["delivery_address"] = 0, ""
        return order

    def _line(self, article: str, quantity: int, language: str) -> dict:
        product = self.products[article]
        title = product["title"].get(language) or product["title"].get("en") or article
        return {"article": article, "title": title, "price": product["price"], "quantity": quantity,
                "total_price": _money(product["price"] * quantity), "type": "product",
                "discount_marker": "NONE", "storage_id": 500 + int(article.split("-")[1]),
                "parent_storage_id": None}

    def _set_delivery(self, order: dict, type_id: int, *, city: str | None = None,
                      address: str | None = None) -> None:
        kind = DELIVERY_TYPES[type_id]
        order["delivery_type"] = dict(kind)
        if city is not None:
            order["delivery_city"] = order["delivery_city_stable"] = city
        if address is not None:
            order["delivery_address"] = address
        operator = CARRIER_OPERATOR.get(type_id)
        if operator == "ukrposhta" and address:
            order["delivery_address"] = "@".join(part.strip() for part in address.split(","))
        order["delivery_data"] = {"deliveryOperatorType": operator, "tnNumber": "",
                                  "tnStatusName": ""} if operator else {}
        order["delivery_price"] = -1 if operator else order.get("delivery_price", 0)

    def _add(self, order: dict) -> dict:
        self.last_number += 1  # numbers are never reused, as on a real shop
        order["order_id"] = self.last_number
        _recount(order)
        self.orders[order["order_id"]] = order
        self._notify(order, ("order_created",))
        return order

    # --- webhooks (the caller holds ``lock``) -----------------------------------------------

    def set_status(self, order: dict, status: int) -> None:
        """A new status saved; ``order_update`` goes out when it changed to anything but New."""
        changed = order["stat_status"] != status
        order["stat_status"] = status
        if changed and status != NEW:
            self._notify(order, ("order_update",))
        elif self.update_on_any:
            self._notify(order, ("order_update",))

    def edited(self, order: dict) -> None:
        """Another change (lines, delivery, tracking code, paid): ``order_update`` only with the
        option ``hook_update_on=any``."""
        if self.update_on_any:
            self._notify(order, ("order_update",))

    def _notify(self, order: dict, events: tuple[str, ...]) -> None:
        if self.hooks is not None:  # None while seeding
            body = webhooks.compact_json(order)
            self.hooks.emit(order["order_id"], events, lambda sub: body)

    # --- sessions ---------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + self.token_ttl
        return token

    def token_ok(self, token: Any) -> bool:
        if self.unauthorized_left > 0:
            self.unauthorized_left -= 1
            return False
        expires = self.tokens.get(str(token or ""))
        return expires is not None and time.monotonic() < expires

    def now_text(self) -> str:
        return datetime.now(timezone.utc).astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def _recount(order: dict) -> None:
    lines = order["products"]
    order["total_sum"] = _money(sum(float(line["total_price"]) for line in lines))
    order["total_default"] = order["total_sum"]
    order["total_quantity"] = sum(int(line["quantity"]) for line in lines)


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------


def envelope(status: str, response: Any) -> Response:
    return jsonify(status=status, response=response)


def _body() -> dict:
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        return body
    values = request.form if request.form else request.args
    return {key.removesuffix("[]"): (values.getlist(key) if key.endswith("[]") else values[key])
            for key in values}


def _api_routes(app: Flask, shop: Shop) -> None:
    functions: dict[str, Callable[[Shop, dict], Response | tuple]] = {
        "orders/get": _orders_get, "orders/get_available_statuses": _statuses,
        "orders/update": _orders_update, "catalog/export": _catalog_export,
        "hooks/subscribe": _hooks_subscribe, "hooks/unSubscribe": _hooks_unsubscribe,
        "hooks/unsubscribe": _hooks_unsubscribe,
    }

    @app.route("/api/<path:function>", methods=["GET", "POST"])
    def api(function: str) -> Response | tuple:
        if shop.no_api:
            status = 404 if shop.no_api == "404" else 200
            page = NOT_FOUND_PAGE if status == 404 else STOREFRONT_PAGE
            return page, status, {"Content-Type": "text/html; charset=utf-8"}
        function = function.strip("/")
        body = _body()
        with shop.lock:
            if function == "auth":
                return _auth(shop, body)
            if function not in functions or function in shop.undefined:
                return envelope("UNDEFINED_FUNCTION", [])
            if not shop.token_ok(body.get("token")):
                return envelope("UNAUTHORIZED", {"message": "token expired"})
            return functions[function](shop, body)


def _auth(shop: Shop, body: dict) -> Response:
    if str(body.get("login", "")) == shop.login and str(body.get("password", "")) == shop.password:
        return envelope("OK", {"token": shop.issue_token()})
    return envelope("ERROR", {"message": "User with the specified login/password does not exist"})


class BadRequest(ValueError):
    """A request the real API would answer with ERROR."""


def _bound(value: Any, *, end: bool) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    for pattern, whole_day in (("%Y-%m-%d %H:%M:%S", False), ("%d.%m.%Y %H:%M:%S", False),
                               ("%Y-%m-%d", True), ("%d.%m.%Y", True)):
        try:
            moment = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return moment + timedelta(days=1, microseconds=-1) if whole_day and end else moment
    raise BadRequest(f"Incorrect date format: {text}")


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _orders_get(shop: Shop, body: dict) -> Response:
    try:
        start, end = _bound(body.get("from"), end=False), _bound(body.get("to"), end=True)
    except BadRequest as error:
        return envelope("ERROR", {"message": str(error)})
    ids = {_int_or_none(i) for i in _as_list(body.get("ids"))}
    statuses = {_int_or_none(s) for s in _as_list(body.get("status"))}

    def select() -> list[dict]:
        numbers = sorted(ids & shop.orders.keys()) if ids else sorted(shop.orders)
        chosen = []
        for number in numbers:
            order = shop.orders[number]
            if statuses and order["stat_status"] not in statuses:
                continue
            created = _created(order["stat_created"])
            if (start and created < start) or (end and created > end):
                continue
            chosen.append(order)
        return chosen

    query = ("orders/get", tuple(sorted(ids, key=str)), tuple(sorted(statuses, key=str)), start, end)
    chosen = shop.sim.selection(query, len(shop.orders), select)
    limit = _int_or_none(body.get("limit"))
    if limit is not None:  # offset works only together with limit
        offset = max(0, _int_or_none(body.get("offset")) or 0)
        chosen = chosen[offset:offset + max(0, limit)]
    return envelope("OK" if chosen else "EMPTY", {"orders": chosen})


@functools.lru_cache(maxsize=1 << 18)
def _created(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def _statuses(shop: Shop, body: dict) -> Response:
    statuses = {str(sid): {"id": sid, "title": shop.texts(title), "is_successful": ok}
                for sid, (title, ok) in STATUSES.items()}
    return envelope("OK", {"statuses": statuses})


def _orders_update(shop: Shop, body: dict) -> Response:
    changes = body.get("orders")
    if not isinstance(changes, list) or not changes:
        return envelope("ERROR", {"message": "orders is not defined or defined incorrectly"})
    log = [_update_one(shop, change if isinstance(change, dict) else {}) for change in changes]
    shop.sim.changed()
    failed = any(entry["status"] != "OK" for entry in log)
    return envelope("WARNING" if failed else "OK", {"log": log})


def _update_one(shop: Shop, change: dict) -> dict:
    number = _int_or_none(change.get("order_id"))
    order = shop.orders.get(number) if number is not None else None

    def entry(status: str, message: str) -> dict:
        return {"order_id": change.get("order_id"), "status": status, "message": message}

    if order is None:
        return entry("ERROR", "order not found")
    status = _int_or_none(change.get("status")) if "status" in change else order["stat_status"]
    if status not in STATUSES:
        return entry("ERROR", "status is not defined or defined incorrectly")
    if order["stat_status"] == CANCELLED:
        return entry("ERROR", "a cancelled order cannot be edited")
    if "tracking_code" in change:
        order.setdefault("delivery_data", {})["tnNumber"] = str(change["tracking_code"])
    for flag in ("paid", "payed"):
        if flag in change:
            order["payed"] = 1 if _flag(change[flag]) else 0
    if status != order["stat_status"]:
        shop.set_status(order, status)
    else:
        shop.edited(order)
    return entry("OK", "UPDATED")


def _hooks_subscribe(shop: Shop, body: dict) -> Response | tuple:
    """``{event, target_url}`` -> HTTP 201 ``{"id": N}``, not in the envelope. ASSUMPTION: the
    refusals (unknown event, no URL, the 6th subscriber of an event) come in the usual ERROR
    envelope with HTTP 200, the limit's message as Horoshop's documentation quotes it."""
    event, url = str(body.get("event") or ""), str(body.get("target_url") or "")
    if event not in HOOK_EVENTS:
        return envelope("ERROR", {"message": "event is not defined or defined incorrectly"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return envelope("ERROR", {"message": "target_url is not defined or defined incorrectly"})
    hooks = shop.hooks
    with hooks.lock:
        if sum(1 for sub in hooks.all() if sub.topic == event) >= HOOK_LIMIT:
            return envelope("ERROR", {"message": "Subscriptions limit for current event has been reached"})
        sub = hooks.add(event, url)
    return jsonify(id=sub.id), 201


def _hooks_unsubscribe(shop: Shop, body: dict) -> Response | tuple:
    """``{id, target_url}`` -> HTTP 410 (its documented success) ``{"id": N}``. ASSUMPTION: an
    unknown id, or a URL that is not the subscription's, gets the ERROR envelope, HTTP 200."""
    sub = shop.hooks.get(_int_or_none(body.get("id")) or 0)
    if sub is None or sub.url != str(body.get("target_url") or ""):
        return envelope("ERROR", {"message": "hook with this id and target_url is not found"})
    shop.hooks.remove(sub.id)
    return jsonify(id=sub.id), 410


def _catalog_export(shop: Shop, body: dict) -> Response:
    expr = body.get("expr") if isinstance(body.get("expr"), dict) else {}
    articles = {str(a) for a in _as_list(expr.get("article"))}
    parent = expr.get("parent") if isinstance(expr.get("parent"), dict) else {}
    products = [p for p in shop.products.values()
                if (not articles or p["article"] in articles)
                and (not parent.get("id") or p["parent"]["id"] == _int_or_none(parent["id"]))]
    limit = _int_or_none(body.get("limit"))
    limit = 500 if limit is None else min(max(limit, 0), 500)
    offset = max(0, _int_or_none(body.get("offset")) or 0)
    chosen = [_fields(p, body) for p in products[offset:offset + limit]]
    return envelope("OK" if chosen else "EMPTY", {"products": chosen})


def _fields(product: dict, body: dict) -> dict:
    always = {"article", "parent_article", "parent"}
    included = set(_as_list(body.get("includedParams")))
    excluded = set(_as_list(body.get("excludedParams"))) - always
    return {key: value for key, value in product.items()
            if (not included or key in included or key in always) and key not in excluded}


# ---------------------------------------------------------------------------------------------
# The control API
# ---------------------------------------------------------------------------------------------


def _control_routes(app: Flask, shop: Shop) -> None:  # noqa: C901 - one small view per route

    def order_or_404(number: int) -> dict | None:
        return shop.orders.get(number)

    @app.get("/_sim/orders")
    def sim_orders():
        with shop.lock:
            keys = ("order_id", "stat_status", "stat_created", "currency")
            return jsonify(orders=[{key: o[key] for key in keys} for o in shop.orders.values()])

    @app.get("/_sim/orders/<int:number>")
    def sim_order(number: int):
        with shop.lock:
            order = order_or_404(number)
            return jsonify(order) if order else (jsonify(error="no such order"), 404)

    @app.post("/_sim/orders")
    def sim_add_order():
        body = request.get_json(force=True) or {}
        with shop.lock:
            try:
                order = _new_order(shop, body)
            except (KeyError, ValueError) as error:
                return jsonify(error=f"bad order: {error}"), 400
            return jsonify(order=shop._add(order))

    @app.post("/_sim/orders/<int:number>/quantity")
    def sim_quantity(number: int):
        body = request.get_json(force=True) or {}
        with shop.lock:
            order = order_or_404(number)
            if order is None:
                return jsonify(error="no such order"), 404
            lines = order["products"]
            index = _int_or_none(body.get("index"))
            if index is None:
                index = next((i for i, line in enumerate(lines)
                              if line["article"] == body.get("article")), None)
            if index is None or not 0 <= index < len(lines):
                return jsonify(error="no such line"), 404
            _set_quantity(order, index, int(body["quantity"]))
            shop.edited(order)
            return jsonify(order=order)

    @app.post("/_sim/orders/<int:number>/status")
    def sim_status(number: int):
        body = request.get_json(force=True) or {}
        with shop.lock:
            order = order_or_404(number)
            if order is None:
                return jsonify(error="no such order"), 404
            if _int_or_none(body.get("status")) not in STATUSES:
                return jsonify(error=f"status must be one of {sorted(STATUSES)}"), 400
            shop.set_status(order, int(body["status"]))
            return jsonify(order=order)

    @app.post("/_sim/orders/<int:number>/delivery")
    def sim_delivery(number: int):
        body = request.get_json(force=True) or {}
        with shop.lock:
            order = order_or_404(number)
            if order is None:
                return jsonify(error="no such order"), 404
            try:
                _change_delivery(shop, order, body)
            except ValueError as error:
                return jsonify(error=str(error)), 400
            shop.edited(order)
            return jsonify(order=order)

    @app.post("/_sim/tokens/expire")
    def sim_expire_tokens():
        with shop.lock:
            shop.tokens.clear()
        return jsonify(ok=True)

    @app.post("/_sim/undefined")
    def sim_undefined():
        body = request.get_json(force=True) or {}
        with shop.lock:
            shop.undefined = {str(name).strip("/") for name in body.get("functions") or ()}
        return jsonify(functions=sorted(shop.undefined))

    @app.post("/_sim/unauthorized")
    def sim_unauthorized():
        body = request.get_json(force=True) or {}
        with shop.lock:
            shop.unauthorized_left = max(0, int(body.get("count", 1)))
        return jsonify(count=shop.unauthorized_left)


def _set_quantity(order: dict, index: int, quantity: int) -> None:
    """Line ``index`` to ``quantity`` at its unit price (0 removes the line), with the totals."""
    lines = order["products"]
    if quantity <= 0:
        lines.pop(index)
    else:
        line = lines[index]
        unit = float(line["total_price"]) / int(line["quantity"])
        line["quantity"], line["total_price"] = quantity, _money(unit * quantity)
    _recount(order)


def _change_delivery(shop: Shop, order: dict, body: dict) -> None:
    """``POST /_sim/orders/<id>/delivery``'s body applied; ValueError (nothing changed) for an
    unknown ``type_id``."""
    if "type_id" in body:
        if _int_or_none(body["type_id"]) not in DELIVERY_TYPES:
            raise ValueError(f"type_id must be one of {sorted(DELIVERY_TYPES)}")
        shop._set_delivery(order, int(body["type_id"]))
    if "title" in body:
        order["delivery_type"]["title"] = str(body["title"])
    for key, field in (("city", "delivery_city"), ("address", "delivery_address"),
                       ("price", "delivery_price")):
        if key in body:
            order[field] = body[key]
    if "city" in body:
        order["delivery_city_stable"] = body["city"]


def _new_order(shop: Shop, body: dict) -> dict:
    lines = [shop._line(str(p["article"]), int(p.get("quantity", 1)), shop.languages[0])
             for p in body.get("products") or ()]
    order = {
        "order_id": 0, "user": shop.rng.randrange(10000, 99999),
        "delivery_name": str(body.get("delivery_name", "")),
        "delivery_phone": str(body.get("delivery_phone", "")),
        "delivery_email": str(body.get("delivery_email", "")), "comment": "",
        "payment_type": PAYMENTS[0], "payment_price": 0, "payed": 0, "discount_percent": 0,
        "discount_value": 0, "coupon_code": "", "stat_status": int(body.get("status", 1)),
        "stat_created": str(body.get("stat_created") or shop.now_text()),
        "currency": str(body.get("currency", shop.currency)), "manager_id": None,
        "manager_comment": "", "analytics": {}, "products": lines, "additional_data": {},
        "delivery_price": body.get("delivery_price", 0),
    }
    if order["stat_status"] not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}")
    shop._set_delivery(order, int(body.get("delivery_type_id", OWN_COURIER["id"])),
                       city=str(body.get("delivery_city", CITIES[0])),
                       address=str(body.get("delivery_address", "")))
    return order


# ---------------------------------------------------------------------------------------------
# The demo page (GET /_sim/): the same changes as the control API, one button each
# ---------------------------------------------------------------------------------------------


def _demo_page(app: Flask, shop: Shop, spare: bool) -> None:
    common.install_demo_page(app, "Cartum", lambda: _demo_orders(shop), [
        common.DemoAction("add", "Add a new order", lambda: _demo_add(shop), per_order=False),
        common.DemoAction("quantity", "Quantity +1", lambda number: _demo_quantity(shop, number)),
        common.DemoAction("status", "Next status", lambda number: _demo_status(shop, number)),
        common.DemoAction("delivery", "Change delivery", lambda number: _demo_delivery(shop, number)),
    ], access=lambda: [("Login", shop.login), ("Password", shop.password)],
        notes=lambda: [f"Its product texts are in {', '.join(shop.languages)} (the wizard's Language); "
                       f"its order times are in {shop.zone.key}.", *_plan_note(shop)], spare=spare,
        webhooks=shop.hooks.neutral if shop.hooks else None)


def _plan_note(shop: Shop) -> list[str]:
    if shop.plan == "pro":
        return []
    return [f"Its plan ({shop.plan}) delivers no webhooks: they need the Pro plan, so Orderdock "
            f"learns of changes by its sync alone."]


def _status_title(status: int) -> str:
    return STATUSES[status][0]["en"]


def _demo_orders(shop: Shop) -> list[dict]:
    with shop.lock:
        newest = sorted(shop.orders.values(), key=lambda o: (o["stat_created"], o["order_id"]), reverse=True)
        return [{"id": o["order_id"], "number": o["order_id"], "created": o["stat_created"],
                 "status": _status_title(o["stat_status"]), "total": f"{o['total_sum']} {o['currency']}"}
                for o in newest]


def _demo_add(shop: Shop) -> str:
    """A new order from a returning buyer who leaves a phone and an e-mail, in the shop's currency."""
    with shop.lock:
        rng = shop.rng
        person = rng.choice([b for b in shop.buyers if b["email"]])
        products = [{"article": article, "quantity": rng.randint(1, 2)}
                    for article in rng.sample(sorted(shop.products), rng.randint(1, 3))]
        order = shop._add(_new_order(shop, {
            "products": products, "delivery_name": person["name"], "delivery_email": person["email"],
            "delivery_phone": rng.choice(person["phones"]), "delivery_price": 80,
            "delivery_city": rng.choice(CITIES),
            "delivery_address": f"{rng.choice(STREETS)}, {rng.randint(1, 120)}"}))
        return (f"Added order {order['order_id']}: {person['name']}, "
                f"{common.plural(len(products), 'product')}, {order['total_sum']} {order['currency']}.")


def _demo_quantity(shop: Shop, number: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, number)
        if not order["products"]:
            raise common.DemoError(f"Order {number} has no lines.")
        line, total = order["products"][0], order["total_sum"]
        before = line["quantity"]
        _set_quantity(order, 0, int(before) + 1)
        shop.edited(order)
        return (f"Order {number}: {line['title']} quantity {before} → {line['quantity']}, "
                f"total {total} → {order['total_sum']} {order['currency']}.")


def _demo_status(shop: Shop, number: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, number)
        before = order["stat_status"]
        shown = f"Order {number} is {_status_title(before)}"
        shop.set_status(order, common.next_open_status(before, DEMO_STATUSES, CLOSED_STATUSES, shown))
        return f"Order {number}: status {_status_title(before)} → {_status_title(order['stat_status'])}."


def _demo_delivery(shop: Shop, number: int) -> str:
    with shop.lock:
        order = common.demo_order(shop.orders, number)
        before = order["delivery_price"]
        _change_delivery(shop, order, {"price": common.next_in(DEMO_DELIVERY_PRICES, before)})
        shop.edited(order)
        return (f"Order {number}: delivery price {before} → {order['delivery_price']} "
                f"{order['currency']} ({order['delivery_type']['title']}).")
