"""The WooCommerce adapter: REST API v3 behind the ``Platform`` interface.

Role in ``platforms/``: decides *what* to ask a WooCommerce store for (``client.py`` does the
HTTP, ``mapping.py`` the translation) and declares WooCommerce's ``RULES``.

Options (``Platform(options=...)``, all optional, strings as stored):

* ``timezone`` — the store's IANA time zone; only used for an order whose ``*_gmt`` date is
  missing (default UTC).
* ``query_string_auth`` — "1": over https send the key and secret as query parameters instead
  of HTTP Basic, for servers that strip the Authorization header (woocommerce.md B2).

Paging (B3, pitfalls.md #3/#4): orders are read oldest first, 100 a page, and each page is a
*fresh* query starting at the last seen time (``after`` / ``modified_after`` one second
earlier, ``dates_are_gmt=true``) rather than ``page=N`` of one query: an order changed during
the run moves to the end of a ``modified`` ordering, and page numbers would then skip one.
Orders sharing the boundary second are recognised by id and not returned twice; when a whole
page shares one second, the next page of the same query is read instead. The checkpoint is
this cursor as JSON. Every page passes ``paging.PageGuard`` first: a cache serving a page
again would otherwise look like "a whole page in one second" and move the cursor past orders
never read (R-REL-2); the boundary second's ids are the guard's ``expected`` re-serves. A
cache ignoring the query string would serve an earlier query's answer: the guard also checks
that each order answers the query (its ``*_gmt`` times at or after the bounds, ids among
those asked for). An ``updated_since`` run makes a second pass over ``status=trash``:
WooCommerce's default ``status=any`` leaves trashed orders out, and a trashed order is a
status change the back office should see.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, CredentialField, NotFound, OrdersPage, Platform,
    PlatformError, PlatformRules, Rejected, RemoteOrder, RemoteStatus, RemoteWebhook, WebhookEvent, WebhookRefused,
    clean_text, first_header, json_object, parse_platform_time, signed_with, unwrap_orders,
)
from webapp.platforms.paging import Belongs, PageGuard, among, within
from webapp.platforms.woocommerce import mapping
from webapp.platforms.woocommerce.client import API_PATH, PER_PAGE, WooClient

MAX_PAGES = 100_000  # ten million orders: a bound on every paging loop, never reached in practice
MAX_WEBHOOK_PAGES = 20  # webhooks listed, 100 a page: a shop has a handful

RULES = PlatformRules(
    excluded_initial_statuses=frozenset({"completed", "cancelled", "refunded", "failed", "trash"}),
    statuses_in=True,
    statuses_out=True,
    completed_needs_write_off=frozenset({"completed"}),
    needs_status_mapping=True,
    initial_status_from_order_type=False,
    tracks_updates=True,
    delivery_transferred=False,
    delivery_only_own_method=False,
    identify_by=("name", "sku", "id"),
    catalog_needs_sku=False,
    sku_field="sku",
    code_field="code",
    category_choice="woocommerce_tree",
    language_choice=False,
    client_match_keys=("phone", "email"),
    times_without_offset=False,  # R-IMP-8: the *_gmt fields; the local ones only as a fallback
    default_timezone="",
    buyer_address_kept=False,
    skip_without_items=True,
    skip_without_contact=True,
    credential_fields=(
        CredentialField("consumer_key", "Consumer key", secret=False,
                        help="WooCommerce > Settings > Advanced > REST API > Add key, with "
                             "Read/Write permission. It starts with ck_."),
        CredentialField("consumer_secret", "Consumer secret", secret=True,
                        help="Shown once, next to the consumer key. It starts with cs_."),
    ),
    url_help="The WordPress site's address, e.g. https://shop.example.com (add the folder if "
             "WordPress lives in one).",
    # Over http every request is signed with OAuth 1.0a (client.auth_for): the consumer secret
    # never travels. The orders do, in clear; the store page says so (R-SEC-1).
    plain_http_ok=True,
)


@dataclass(frozen=True)
class _Cursor:
    """Where an ``iter_orders`` run is; serialized as the page checkpoint."""

    by: str  # "date" (created) or "modified": the field the run is ordered and resumed by
    created_since: str | None
    updated_since: str | None
    status: str = "any"  # then "trash" for updated_since runs
    mark: str | None = None  # the last returned order's time (GMT text)
    seen: tuple[int, ...] = ()  # ids at ``mark`` already returned
    page: int = 1

    def dump(self) -> str:
        return json.dumps({"v": 1, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> _Cursor:
        try:
            data = json.loads(text)
            data.pop("v")
            data["seen"] = tuple(int(i) for i in data["seen"])
            return cls(**data)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError("This checkpoint does not come from the WooCommerce adapter.") from None

    @property
    def time_field(self) -> str:
        return "date_modified" if self.by == "modified" else "date_created"

    def belongs(self) -> Belongs:
        """Whether an order answers this cursor's query (not an earlier query's, from a cache
        ignoring the query string): at or after its lower bounds, in the trash on that pass."""
        lower = self.mark or (self.updated_since if self.by == "modified" else self.created_since)
        in_query = within(_gmt(self.time_field), _utc(lower))
        created = within(_gmt("date_created"), _utc(self.created_since))
        any_status = self.status != "trash"
        return lambda order: (in_query(order) and created(order)
                              and (any_status or clean_text(order.get("status")) == "trash"))

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"per_page": PER_PAGE, "page": self.page, "orderby": self.by,
                                  "order": "asc", "dates_are_gmt": "true"}
        if self.status != "any":
            params["status"] = self.status
        lower = self.mark or (self.updated_since if self.by == "modified" else self.created_since)
        if lower:  # WooCommerce's after/modified_after are exclusive: one second earlier
            params["modified_after" if self.by == "modified" else "after"] = _minus_second(lower)
        if self.by == "modified" and self.created_since:
            params["after"] = _minus_second(self.created_since)
        return params


def _gmt(field: str) -> Callable[[Mapping[str, Any]], datetime | None]:
    """An order's ``<field>_gmt`` as UTC; None (not judged) without one: the local field
    would need the store's zone, and a wrong zone setting must not fail the sync."""
    return lambda order: _utc(order.get(f"{field}_gmt"))


def _utc(gmt: Any) -> datetime | None:
    return parse_platform_time(gmt, "UTC") if gmt else None


def _minus_second(gmt: str) -> str:
    return mapping.gmt_text(parse_platform_time(gmt, "UTC") - timedelta(seconds=1))


class WooCommercePlatform(Platform):
    """A WooCommerce store, read and written through REST API v3 (woocommerce.md)."""

    name = "woocommerce"
    title = "WooCommerce"
    RULES = RULES
    WEBHOOK_TOPICS = ("order.created", "order.updated")
    WEBHOOK_OWN_SECRET = True
    RATE = "5/second"  # WooCommerce has no API limit; this keeps a small shared host responsive
    fetch_batch = PER_PAGE  # ids per orders?include= request

    @classmethod
    def preview(cls, payload: Any, options: Mapping[str, str] | None = None) -> list[RemoteOrder]:
        zone = (options or {}).get("timezone") or "UTC"
        return [mapping.map_order(raw, zone=zone) for raw in unwrap_orders(payload, "orders", "order")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = clean_text(self.options.get("timezone")) or "UTC"
        self._client: WooClient | None = None
        self._products: dict[int, dict[str, Any]] = {}  # per run: id -> product JSON ({} = gone)
        self._paths: dict[int, tuple[str, ...]] | None = None

    @property
    def client(self) -> WooClient:
        if self._client is None:
            self._client = WooClient(
                self.url, self.credentials.get("consumer_key", ""),
                self.credentials.get("consumer_secret", ""), self.request,
                query_string_auth=clean_text(self.options.get("query_string_auth")) in ("1", "true", "yes"))
        return self._client

    # -- connection -------------------------------------------------------------------------

    def verify(self) -> None:
        """R-CON-4: a key that can read orders *and* write them (statuses go back, R-STA-3).

        Reading: ``GET orders?per_page=1``. Writing: ``PUT orders/0`` with an empty body;
        WooCommerce checks the key's write permission before the id, and order 0 never
        exists, so a good key gets "Invalid ID." (400) and nothing is changed (B2, B6).
        """
        self.client.get_list("orders", {"per_page": 1})
        try:
            self.client.put("orders/0", {})
        except (NotFound, Rejected):
            pass

    def shop_country(self) -> str:
        """R-CLI-5: the store address's country, ``woocommerce_default_country`` in the general
        settings ("UA" or "UA:30" with a state); "" when the key may not read settings."""
        try:
            value = self.client.get("settings/general/woocommerce_default_country").data
        except PlatformError:
            return ""
        text = clean_text(value.get("value")) if isinstance(value, Mapping) else ""
        return text.split(":")[0]

    def statuses(self) -> list[RemoteStatus]:
        """R-CON-5: ``reports/orders/totals`` lists every registered status, plugins' too.

        A key whose user may not view reports, or a store without that route, gets the core
        list; unknown statuses met later are kept as they come anyway.
        """
        try:
            rows = self.client.get_list("reports/orders/totals").data
        except (ApiNotAvailable, NotFound):
            rows = None
        except AuthFailed as error:
            if not getattr(error, "platform_code", "").startswith("woocommerce_rest_cannot"):
                raise
            rows = None
        return mapping.statuses_from_report(rows)

    # -- orders -----------------------------------------------------------------------------

    def iter_orders(self, created_since: datetime | None = None,
                    updated_since: datetime | None = None,
                    resume_from: str | None = None) -> Iterator[OrdersPage]:
        """Pages of orders, oldest first (see the module docstring for the paging scheme).

        ``resume_from`` continues a checkpointed run with the filters that run started with;
        ``created_since`` / ``updated_since`` are then ignored.
        """
        cursor: _Cursor | None = _Cursor.load(resume_from) if resume_from else _Cursor(
            by="modified" if updated_since else "date",
            created_since=mapping.gmt_text(created_since) if created_since else None,
            updated_since=mapping.gmt_text(updated_since) if updated_since else None)
        guard = self._guard("orders")
        for _ in range(MAX_PAGES):
            if cursor is None:
                return
            rows, cursor = self._read_page(cursor, guard)
            yield OrdersPage(self._map(rows), cursor.dump() if cursor else None)
        raise BadPayload("WooCommerce kept returning pages beyond any plausible shop size.")

    def count_orders(self, created_since: datetime) -> int | None:
        """X-WP-Total of the first page of the same query, asked for one row."""
        first = _Cursor(by="date", created_since=mapping.gmt_text(created_since), updated_since=None)
        return self.client.get_list("orders", {**first.params(), "per_page": 1}).total

    def _guard(self, what: str) -> PageGuard:
        return PageGuard(what, api=f"{self.url}{API_PATH}/", settings=self.http.settings)

    def _read_page(self, cursor: _Cursor, guard: PageGuard) -> tuple[list[dict[str, Any]], _Cursor | None]:
        """This page's new orders, and the cursor of the next page (None after the last)."""
        # A fresh query (page 1) serves the boundary second's seen ids again by design; the
        # same query's next page (a whole page in one second) never does.
        expected = {str(i) for i in cursor.seen} if cursor.page == 1 else set()
        answer = guard.read(lambda: self.client.get_list("orders", cursor.params()),
                            lambda page: page.data, expected, belongs=cursor.belongs())
        rows = [row for row in answer.data if isinstance(row, dict)]
        times = [self._row_time(row, cursor) for row in rows]
        fresh = [row for row, moment in zip(rows, times)
                 if not (moment == cursor.mark and _row_id(row) in cursor.seen)]
        more_pages = answer.total_pages is None or cursor.page < answer.total_pages
        full = len(answer.data) >= PER_PAGE and more_pages
        if not full or not rows:
            return fresh, self._next_pass(cursor)
        last = times[-1]
        at_last = tuple(_row_id(row) for row, moment in zip(rows, times) if moment == last)
        if last == cursor.mark:  # a whole page in one second: read on in the same query
            seen = tuple(dict.fromkeys(cursor.seen + at_last))
            return fresh, replace(cursor, seen=seen, page=cursor.page + 1)
        return fresh, replace(cursor, mark=last, seen=at_last, page=1)

    def _row_time(self, row: dict[str, Any], cursor: _Cursor) -> str | None:
        moment = mapping.gmt_time(row, cursor.time_field, self.zone)
        return mapping.gmt_text(moment) if moment else None

    @staticmethod
    def _next_pass(cursor: _Cursor) -> _Cursor | None:
        if cursor.by == "modified" and cursor.status == "any":
            return _Cursor(by="modified", created_since=cursor.created_since,
                           updated_since=cursor.updated_since, status="trash")
        return None

    def fetch_orders(self, external_ids: Sequence[str]) -> list[RemoteOrder]:
        """These orders by ``include=``; missing (deleted) ones are left out.

        ``include`` alone means ``status=any``, which hides trashed orders, so ids not found
        are asked for once more with ``status=trash``.
        """
        wanted = list(dict.fromkeys(i for i in map(clean_text, external_ids) if i.isdigit()))
        rows: list[dict[str, Any]] = []
        guard = self._guard("orders")
        for status in ("any", "trash"):
            missing = [i for i in wanted if i not in {str(r.get("id")) for r in rows}]
            for start in range(0, len(missing), PER_PAGE):
                chunk = missing[start:start + PER_PAGE]
                params = {"include": ",".join(chunk), "per_page": PER_PAGE}
                if status != "any":
                    params["status"] = status
                answer = guard.read(lambda: self.client.get_list("orders", params),
                                    lambda page: page.data, belongs=among(chunk))
                rows += [r for r in answer.data if isinstance(r, dict)]
        return self._map(rows)

    def push_status(self, external_id: str, platform_status_id: str) -> None:
        """R-STA-3: ``PUT orders/<id>`` with ``{"status": ...}`` (B6).

        The caller has already applied R-STA-3's write-off condition. WooCommerce answers with
        the order; if a plugin kept another status, that is reported as Rejected.
        """
        ident, status = clean_text(external_id), clean_text(platform_status_id)
        if not ident.isdigit():
            raise NotFound()
        order = self.client.put(f"orders/{ident}", {"status": status})
        kept = clean_text(order.get("status")) if isinstance(order, dict) else ""
        if kept and kept != status:
            raise Rejected(f"WooCommerce kept order {ident} in status \"{kept}\" instead of "
                           f"\"{status}\". A plugin on the shop may forbid this change.")

    # -- webhooks (B9) ----------------------------------------------------------------------

    @classmethod
    def read_webhook(cls, headers: Mapping[str, str], body: bytes, key: str) -> WebhookEvent:
        """``X-WC-Webhook-Signature`` is base64(HMAC-SHA256(the subscription's secret, raw body))
        and ``X-WC-Webhook-Delivery-ID`` names the delivery, but only to the second: it is
        ``wp_hash(webhook id . time)`` (B9), the same for two changes sent in one second (a bulk
        status change). So the delivery is known by that id with a digest of its body: a delivery
        sent again is the same bytes. The ping WooCommerce sends when a webhook is created is
        form-encoded ``webhook_id=<id>`` without a signature, and must get HTTP 200 (B9): it is
        recognised by exactly that and used for nothing."""
        signature = first_header(headers, "X-WC-Webhook-Signature")
        if not signature and _is_ping(body):
            return WebhookEvent(ping=True)
        if not signed_with(key, body, signature):
            raise WebhookRefused(
                "A WooCommerce webhook with a wrong or missing signature was refused. Its secret is set by "
                "Orderdock: if the webhook was edited in WooCommerce > Settings > Advanced > Webhooks, delete "
                "it there and save the store here to register it again.")
        topic = first_header(headers, "X-WC-Webhook-Topic")
        data = json_object(body)
        ident = clean_text(data.get("id")) if topic.startswith("order.") else ""
        digest = hashlib.sha256(body).hexdigest()[:40]
        delivery = first_header(headers, "X-WC-Webhook-Delivery-ID")[:64]
        return WebhookEvent(topic=topic, order_ids=(ident,) if ident.isdigit() else (),
                            delivery_id=f"{delivery}:{digest}" if delivery else "", changed_at=digest)

    def list_webhooks(self) -> list[RemoteWebhook]:
        found: list[RemoteWebhook] = []
        for page in range(1, MAX_WEBHOOK_PAGES + 1):
            answer = self.client.get_list("webhooks", {"per_page": PER_PAGE, "page": page})
            found += [RemoteWebhook(clean_text(hook.get("id")), clean_text(hook.get("topic")),
                                    clean_text(hook.get("delivery_url")), clean_text(hook.get("status")) == "active")
                      for hook in answer.data if isinstance(hook, dict)]
            if len(answer.data) < PER_PAGE or (answer.total_pages is not None and page >= answer.total_pages):
                break
        return found

    def create_webhook(self, topic: str, address: str, secret: str) -> str:
        hook = self.client.post("webhooks", {"name": f"Orderdock {topic}", "topic": topic, "delivery_url": address,
                                             "secret": secret, "status": "active"})
        ident = clean_text(hook.get("id")) if isinstance(hook, dict) else ""
        if not ident:
            raise BadPayload("WooCommerce answered the webhook subscription without its id.")
        return ident

    def delete_webhook(self, webhook_id: str, address: str) -> None:
        ident = clean_text(webhook_id)
        if not ident.isdigit():
            return
        try:
            self.client.delete(f"webhooks/{ident}", {"force": "true"})  # webhooks have no trash
        except NotFound:
            pass

    def order_url(self, external_id: str) -> str:
        # The classic edit URL; with HPOS on, WooCommerce redirects it to admin.php?page=wc-orders.
        return f"{self.url}/wp-admin/post.php?post={clean_text(external_id)}&action=edit"

    def orders_url(self) -> str:
        return f"{self.url}/wp-admin/edit.php?post_type=shop_order"

    # -- products and categories, cached for the run ----------------------------------------
    #
    # A line's description and categories come from its product (``GET products``), read only
    # for the lines whose product the back office does not have yet (``Platform.catalogue``):
    # a product we have keeps what it has. The category tree (``GET products/categories``) is
    # read only when such a product is in two categories or more: R-PRD-6 must know how they
    # nest; a product in one category is named by it, and its name comes with the product.

    def _map(self, rows: list[dict[str, Any]]) -> tuple[RemoteOrder, ...]:
        orders = [row for row in rows if not mapping.is_draft(row)]
        wanted = self._unknown_products(orders)
        self._load_products(wanted)
        nested = any(len(self._products.get(i, {}).get("categories") or ()) > 1 for i in wanted)
        paths = self._category_paths() if nested else self._paths or {}
        try:
            return tuple(mapping.map_order(row, self._products, paths, zone=self.zone) for row in orders)
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise BadPayload(f"WooCommerce sent an order we cannot read ({error}).") from None

    def _unknown_products(self, orders: list[dict[str, Any]]) -> set[int]:
        """The (parent) product ids of the lines whose product the back office lacks."""
        lines = [line for order in orders for line in order.get("line_items") or () if isinstance(line, dict)]
        ids = [mapping.object_id(line.get("product_id")) for line in lines]
        known = [False] * len(lines)
        if self.catalogue is not None:
            try:
                known = self.catalogue.known([mapping.map_item(line) for line in lines])
            except (ValueError, TypeError, AttributeError, KeyError):
                pass  # a line we cannot read: its order fails in _map, saying why
        return {int(ident) for ident, have in zip(ids, known) if ident.isdigit() and not have}

    def _load_products(self, ids: set[int]) -> None:
        unknown = sorted(ids - self._products.keys())
        for start in range(0, len(unknown), PER_PAGE):
            chunk = unknown[start:start + PER_PAGE]
            answer = self.client.get_list("products", {"include": ",".join(map(str, chunk)),
                                                       "per_page": PER_PAGE})
            found = {_row_id(p): p for p in answer.data if isinstance(p, dict)}
            self._products.update({i: found.get(i, {}) for i in chunk})

    def _category_paths(self) -> dict[int, tuple[str, ...]]:
        if self._paths is None:
            categories: list[dict[str, Any]] = []
            guard = self._guard("product categories")
            for page in range(1, MAX_PAGES):
                query = {"per_page": PER_PAGE, "page": page}
                answer = guard.read(lambda: self.client.get_list("products/categories", query),
                                    lambda found: found.data)
                categories += [c for c in answer.data if isinstance(c, dict)]
                last = answer.total_pages is not None and page >= answer.total_pages
                if len(answer.data) < PER_PAGE or last:
                    break
            self._paths = mapping.category_paths(categories)
        return self._paths


def _is_ping(body: bytes) -> bool:
    """WooCommerce's creation ping: exactly ``webhook_id=<digits>``, form-encoded (B9)."""
    pairs = parse_qs(body.decode("latin-1"), keep_blank_values=True) if len(body) < 100 else {}
    return list(pairs) == ["webhook_id"] and pairs["webhook_id"][0].isdigit()


def _row_id(row: dict[str, Any]) -> int:
    ident = clean_text(row.get("id"))
    return int(ident) if ident.isdigit() else -1
