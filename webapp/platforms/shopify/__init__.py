"""The Shopify adapter: orders from the REST Admin API as normalized records.

Role in ``platforms/``: ``ShopifyPlatform`` implements ``Platform`` for Shopify and states
its ``RULES``; ``client.py`` does the HTTP, ``mapping.py`` the JSON -> records.

What is particular to Shopify (SPEC, shopify.md):

* No status sync either way (R-STA-4): ``statuses()`` lists the ids ``mapping.derive_status``
  builds from ``cancelled_at`` / ``financial_status`` / ``fulfillment_status``, for display
  and for R-IMP-2's exclusions; ``push_status`` raises ``Rejected``, and the importer never
  calls it because ``RULES.statuses_out`` is False.
* Orders are always asked for with ``status=any``: the default (open) hides closed and
  cancelled orders. By default Shopify only serves the last 60 days of orders unless the
  app has the ``read_all_orders`` scope; older orders are silently absent.
* Items get their product's description (``body_html`` as text) and category
  (``product_type``) from ``products.json?ids=...``, 250 ids a request, cached per adapter,
  only for the lines whose product the back office does not have yet (``Platform.catalogue``).
  Without the read_products scope the import goes on without them (logged).

Options: ``api_version`` ("YYYY-MM", default ``client.API_VERSION``), ``page_size``
(1-250, default 250). Credentials: ``access_token``, or ``client_id`` + ``client_secret``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from webapp.platforms.base import (
    AuthFailed, BadPayload, CredentialField, NotFound, OrdersPage, Platform, PlatformError,
    PlatformRules, Rejected, RemoteOrder, RemoteStatus, RemoteWebhook, WebhookEvent, WebhookRefused,
    clean_text, first_header, json_object, origin, parse_platform_time, signed_with, unwrap_orders,
)
from webapp.platforms.http import PlatformHttp
from webapp.platforms.paging import Belongs, among, within
from webapp.platforms.shopify import mapping
from webapp.platforms.shopify.client import (
    MAX_LIMIT, ClientCredentials, ShopifyClient, StaticToken, checked_version,
)

log = logging.getLogger(__name__)

PRODUCT_FIELDS = "id,body_html,product_type"
PRODUCT_CACHE_SIZE = 10_000

TOKEN_HELP = (
    "From a custom app made in the Shopify admin (Settings > Apps and sales channels > "
    "Develop apps): its Admin API access token (shpat_...), shown once when the app is "
    "installed. Give the app the scopes read_orders and read_products (add read_all_orders: "
    "without it Shopify hides orders older than 60 days), and access to protected customer "
    "data for buyer names and contacts. Shopify stopped offering new apps "
    "of this kind on 1 January 2026: for an app made in Shopify's Dev Dashboard, leave this "
    "empty and enter its client ID and secret instead.")

RULES = PlatformRules(
    excluded_initial_statuses=frozenset({mapping.FULFILLED, mapping.CANCELLED, mapping.REFUNDED}),
    statuses_in=False,
    statuses_out=False,
    completed_needs_write_off=frozenset(),
    needs_status_mapping=False,
    initial_status_from_order_type=True,
    tracks_updates=True,
    delivery_transferred=True,
    delivery_only_own_method=False,
    identify_by=("name", "sku", "id"),
    catalog_needs_sku=False,
    sku_field="sku",
    code_field="code",
    category_choice="single",
    language_choice=False,
    client_match_keys=("phone",),
    times_without_offset=False,  # R-IMP-8: ISO 8601 with an offset
    default_timezone="",
    buyer_address_kept=True,
    skip_without_items=False,
    skip_without_contact=False,
    credential_fields=(
        CredentialField("access_token", "Admin API access token", secret=True, help=TOKEN_HELP),
        CredentialField("client_id", "Client ID (Dev Dashboard app, optional)", secret=False,
                        help="Only for an app made in Shopify's Dev Dashboard and installed on "
                             "your own shop. Orderdock exchanges the client ID and secret for "
                             "an access token and renews it when it expires."),
        CredentialField("client_secret", "Client secret (optional; needed for webhooks)",
                        secret=True, help="The same app's client secret, called API secret key for an app "
                                          "made in the shop admin. Shopify signs its webhooks with it: "
                                          "enter it to see changes within seconds (with PUBLIC_BASE_URL "
                                          "set); without it, orders arrive by polling every 5 minutes."),
    ),
    url_help=("The shop's Shopify address, such as https://my-shop.myshopify.com, not its own "
              "domain: see Settings > Domains in the Shopify admin."),
)


class ShopifyPlatform(Platform):
    """One Shopify shop, read through its REST Admin API."""

    name = "shopify"
    title = "Shopify"
    RULES = RULES
    WEBHOOK_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
    RATE = "2/second"  # the Standard plan's leak rate (A7); Advanced and Plus allow more
    fetch_batch = MAX_LIMIT  # ids per orders.json?ids= request
    PLAIN_HTTP_REFUSAL = (
        "This address starts with http://, so the Shopify access token would travel unencrypted. "
        "Change the store's Website URL to the shop's https://my-shop.myshopify.com address.")

    @classmethod
    def preview(cls, payload: Any, options: Mapping[str, str] | None = None) -> list[RemoteOrder]:
        return [mapping.order_from_json(raw) for raw in unwrap_orders(payload, "orders", "order")]

    def __init__(self, url: str, credentials: Mapping[str, str], options: Mapping[str, str],
                 http: PlatformHttp, *, budget_key: str | None = None) -> None:
        super().__init__(url, credentials, options, http, budget_key=budget_key)
        self.origin = origin(self.url)
        self.client = ShopifyClient(
            self.request, self.origin, self._auth(),
            api_version=checked_version(self.options.get("api_version")),
            pause=lambda seconds: self.http.budget.pause(self.budget_key, seconds),
            page_size=_page_size(self.options.get("page_size")), settings=self.http.settings)
        self._products: dict[str, mapping.ProductInfo | None] = {}
        self._products_denied = False

    def _auth(self) -> StaticToken | ClientCredentials:
        client_id = clean_text(self.credentials.get("client_id"))
        secret = clean_text(self.credentials.get("client_secret"))
        if client_id and secret:
            return ClientCredentials(self.request, self.origin, client_id, secret)
        return StaticToken(self.credentials.get("access_token", ""))

    # --- Platform ---------------------------------------------------------------------------

    def verify(self) -> None:
        """``shop.json`` proves the address and token; ``orders/count.json`` the read_orders
        scope, which ``shop.json`` does not need."""
        try:
            shop = self.client.get("shop").get("shop")
        except NotFound:
            raise BadPayload("There is no Shopify Admin API at this address. Enter the shop's "
                             "my-shop.myshopify.com address.") from None
        if not isinstance(shop, Mapping):
            raise BadPayload("This address answers, but not like a Shopify shop. Enter the "
                             "shop's my-shop.myshopify.com address.")
        self._shop = shop
        self.client.get("orders/count", {"status": "any"})

    def shop_country(self) -> str:
        """R-CLI-5: ``shop.json``'s ``country_code`` (older versions: ``country``), which
        ``verify`` has just read; "" when the shop does not say."""
        shop = getattr(self, "_shop", None)
        if shop is None:
            try:
                shop = self.client.get("shop").get("shop")
            except PlatformError:
                return ""
        return clean_text(shop.get("country_code") or shop.get("country")) if isinstance(shop, Mapping) else ""

    def statuses(self) -> list[RemoteStatus]:
        return list(mapping.STATUSES)

    def iter_orders(self, created_since: datetime | None = None,
                    updated_since: datetime | None = None,
                    resume_from: str | None = None) -> Iterator[OrdersPage]:
        """Pages of ``orders.json?status=any``, newest first. The checkpoint is the next
        page's ``page_info`` cursor, which carries the run's filters with it."""
        params = {"status": "any"}
        if created_since is not None:
            params["created_at_min"] = _shopify_time(created_since)
        if updated_since is not None:
            params["updated_at_min"] = _shopify_time(updated_since)
        pages = self.client.pages("orders", "orders", params, page_info=clean_text(resume_from) or None,
                                  belongs=_since(created_since, updated_since))
        for raw, cursor in pages:
            yield OrdersPage(self._map(raw), checkpoint=cursor)

    def count_orders(self, created_since: datetime) -> int | None:
        answer = self.client.get("orders/count", {"status": "any", "created_at_min": _shopify_time(created_since)})
        count = answer.get("count")
        return count if isinstance(count, int) and count >= 0 else None

    def fetch_orders(self, external_ids: Sequence[str]) -> list[RemoteOrder]:
        wanted = list(dict.fromkeys(i for i in map(clean_text, external_ids) if i.isdigit()))
        found: dict[str, RemoteOrder] = {}
        for start in range(0, len(wanted), MAX_LIMIT):
            batch = wanted[start:start + MAX_LIMIT]
            params = {"ids": ",".join(batch), "status": "any"}
            for raw, _ in self.client.pages("orders", "orders", params, belongs=among(batch)):
                found.update((order.external_id, order) for order in self._map(raw))
        return [found[i] for i in wanted if i in found]

    def push_status(self, external_id: str, platform_status_id: str) -> None:
        raise Rejected("Orderdock does not change order statuses on Shopify: Shopify orders "
                       "have no single status to set, and statuses are not synchronized with "
                       "Shopify in either direction (R-STA-4).")

    def order_url(self, external_id: str) -> str:
        return f"{self.origin}/admin/orders/{clean_text(external_id)}"

    # --- webhooks (A9) ----------------------------------------------------------------------

    @classmethod
    def webhook_key(cls, credentials: Mapping[str, str], hook_secret: str) -> str:
        """Shopify signs the webhooks an app subscribes with that app's client secret (A9)."""
        return clean_text(credentials.get("client_secret"))

    @classmethod
    def webhooks_unavailable(cls, credentials: Mapping[str, str]) -> str | None:
        if cls.webhook_key(credentials, ""):
            return None
        return ("Shopify webhooks need the app's client secret (its API secret key), which Shopify signs "
                "them with: edit the store and enter it.")

    @classmethod
    def read_webhook(cls, headers: Mapping[str, str], body: bytes, key: str) -> WebhookEvent:
        """``X-Shopify-Hmac-Sha256`` (or, in Shopify's newer format, ``Shopify-Hmac-Sha256``) is
        base64(HMAC-SHA256(client secret, raw body)); ``X-Shopify-Webhook-Id`` names the delivery."""
        signature = first_header(headers, "X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256")
        if not signed_with(key, body, signature):
            raise WebhookRefused(
                "A Shopify webhook with a wrong or missing signature was refused. If the app's client secret "
                "was changed in Shopify, edit the store and enter the new one (Shopify may sign with the old "
                "one for up to an hour).")
        topic = first_header(headers, "X-Shopify-Topic", "Shopify-Topic")
        data = json_object(body)
        ident = clean_text(data.get("id")) if topic.startswith("orders/") else ""
        return WebhookEvent(topic=topic, order_ids=(ident,) if ident.isdigit() else (),
                            delivery_id=first_header(headers, "X-Shopify-Webhook-Id", "Shopify-Webhook-Id"),
                            changed_at=clean_text(data.get("updated_at")))

    def list_webhooks(self) -> list[RemoteWebhook]:
        found = []
        for page, _ in self.client.pages("webhooks", "webhooks"):
            found += [RemoteWebhook(clean_text(hook.get("id")), clean_text(hook.get("topic")),
                                    clean_text(hook.get("address"))) for hook in page]
        return found

    def create_webhook(self, topic: str, address: str, secret: str) -> str:
        answer = self.client.post("webhooks", {"webhook": {"topic": topic, "address": address, "format": "json"}})
        hook = answer.get("webhook")
        ident = clean_text(hook.get("id")) if isinstance(hook, Mapping) else ""
        if not ident:
            raise BadPayload("Shopify answered the webhook subscription without its id.")
        return ident

    def delete_webhook(self, webhook_id: str, address: str) -> None:
        ident = clean_text(webhook_id)
        if not ident.isdigit():
            return
        try:
            self.client.delete(f"webhooks/{ident}")
        except NotFound:
            pass  # gone already (Shopify deletes one that kept failing)

    def orders_url(self) -> str:
        return f"{self.origin}/admin/orders"

    # --- helpers ----------------------------------------------------------------------------

    def _map(self, raw_orders: list[dict[str, Any]]) -> tuple[RemoteOrder, ...]:
        products = self._product_infos(self._unknown_products(raw_orders))
        orders = []
        for raw in raw_orders:
            try:
                orders.append(mapping.order_from_json(raw, products))
            except (TypeError, ValueError) as exc:
                raise BadPayload(f"Shopify order {clean_text(raw.get('id')) or '?'} could not "
                                 f"be read: {exc}") from None
        return tuple(orders)

    def _unknown_products(self, raw_orders: list[dict[str, Any]]) -> set[str]:
        """The product ids of the lines whose product the back office lacks (all without a
        ``catalogue``): a product we have keeps what it has."""
        if self.catalogue is None:
            return mapping.product_ids(raw_orders)
        lines = [line for order in raw_orders for line in order.get("line_items") or () if isinstance(line, Mapping)]
        try:
            items = [mapping.item_from_json(line) for line in lines]
            known = self.catalogue.known(items)
        except (TypeError, ValueError):
            return mapping.product_ids(raw_orders)  # a line we cannot read: its order fails in _map
        return {item.product_id for item, have in zip(items, known) if item.product_id and not have}

    def _product_infos(self, ids: set[str]) -> dict[str, mapping.ProductInfo]:
        """Description and category of these products, fetched once per adapter."""
        missing = sorted(i for i in ids - self._products.keys() if i.isdigit())
        if missing and not self._products_denied:
            if len(self._products) + len(missing) > PRODUCT_CACHE_SIZE:
                self._products.clear()
            try:
                self._fetch_products(missing)
            except AuthFailed:
                # Without read_products the orders still import, without descriptions.
                log.warning("Shopify %s: no access to products; items get no description or "
                            "category", self.origin)
                self._products_denied = True
        return {i: info for i in ids if (info := self._products.get(i)) is not None}

    def _fetch_products(self, ids: list[str]) -> None:
        for start in range(0, len(ids), MAX_LIMIT):
            batch = ids[start:start + MAX_LIMIT]
            self._products.update(dict.fromkeys(batch))  # deleted products stay None
            params = {"ids": ",".join(batch), "fields": PRODUCT_FIELDS}
            for products, _ in self.client.pages("products", "products", params, belongs=among(batch)):
                self._products.update((clean_text(p.get("id")), mapping.product_info(p))
                                      for p in products)


def _since(created_since: datetime | None, updated_since: datetime | None) -> Belongs:
    """``belongs`` for ``iter_orders``: created and changed at or after the filters, as sent."""
    created = within(lambda order: _time(order.get("created_at")), _filter_time(created_since))
    updated = within(lambda order: _time(order.get("updated_at")), _filter_time(updated_since))
    return lambda order: created(order) and updated(order)


def _time(value: Any) -> datetime | None:
    return parse_platform_time(value) if value else None


def _filter_time(moment: datetime | None) -> datetime | None:
    return parse_platform_time(_shopify_time(moment)) if moment else None


def _shopify_time(moment: datetime) -> str:
    """A filter time as Shopify's examples write it: ISO 8601 with offset, whole seconds
    (rounded down, so the filter never starts after the moment asked for)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Order filters need a timezone-aware time.")
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def _page_size(value: Any) -> int:
    text = clean_text(value)
    if not text:
        return MAX_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise PlatformError(f"The page_size option must be a number from 1 to {MAX_LIMIT}.")
    return int(text)


__all__ = ["RULES", "ShopifyPlatform"]
