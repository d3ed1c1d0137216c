"""Reading webhook deliveries (R-HOOK-1..3), pure: each adapter's ``read_webhook`` on bodies and
headers as the platforms send them, and PUBLIC_BASE_URL's check. No I/O."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from werkzeug.datastructures import Headers

from webapp.config import ConfigError, public_base_url
from webapp.platforms.base import WebhookRefused, signed_with
from webapp.platforms.cartum import CartumPlatform
from webapp.platforms.shopify import ShopifyPlatform
from webapp.platforms.woocommerce import WooCommercePlatform

BODY = json.dumps({"id": 820982911946154508, "updated_at": "2026-11-20T10:00:00-05:00"}).encode()


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize("prefix", ["X-Shopify-", "Shopify-", "x-shopify-", "shopify-"])
def test_R_HOOK_2_shopify_accepts_both_header_formats_in_any_case(prefix):
    headers = Headers({f"{prefix}Hmac-Sha256": sign("secret", BODY), f"{prefix}Topic": "orders/updated",
                       f"{prefix}Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"})
    event = ShopifyPlatform.read_webhook(headers, BODY, "secret")
    assert event.order_ids == ("820982911946154508",) and event.topic == "orders/updated"
    assert event.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


@pytest.mark.parametrize("key, signature", [("k-7d1e", "Zm9yZ2Vk"), ("", sign("", BODY)),
                                            ("k-other-5c2a", sign("k-7d1e", BODY)), ("k-7d1e", "")])
def test_R_HOOK_2_shopify_refuses_what_its_key_did_not_sign(key, signature):
    headers = Headers({"X-Shopify-Hmac-Sha256": signature, "X-Shopify-Topic": "orders/updated"})
    with pytest.raises(WebhookRefused) as refused:
        ShopifyPlatform.read_webhook(headers, BODY, key)
    message = refused.value.message
    assert "edit the store" in message
    assert not [secret for secret in (key, signature) if secret and secret in message]  # never the key or signature


def test_R_HOOK_2_signatures_are_over_the_raw_bytes():
    assert signed_with("k", BODY, sign("k", BODY))
    assert not signed_with("k", BODY + b" ", sign("k", BODY))
    assert not signed_with("k", BODY, "not base64 at all \u00e9")


def test_R_HOOK_2_woocommerce_ping_is_exactly_an_unsigned_webhook_id():
    assert WooCommercePlatform.read_webhook(Headers(), b"webhook_id=12", "s").ping
    for body in (b"webhook_id=12&x=1", b"webhook_id=abc", b"{}", b""):
        with pytest.raises(WebhookRefused):
            WooCommercePlatform.read_webhook(Headers(), body, "s")


def test_R_HOOK_3_woocommerce_deliveries_are_known_by_their_id_and_their_bytes():
    body = json.dumps({"id": 727, "date_modified_gmt": "2026-11-20T10:00:00"}).encode()
    headers = Headers({"X-WC-Webhook-Signature": sign("s", body), "X-WC-Webhook-Topic": "order.updated",
                       "X-WC-Webhook-Delivery-ID": "d41d8cd98f00b204e9800998ecf8427e"})
    event = WooCommercePlatform.read_webhook(headers, body, "s")
    assert event.order_ids == ("727",) and event.delivery_id.startswith("d41d8cd98f00b204e9800998ecf8427e:")
    other = json.dumps({"id": 728}).encode()
    headers["X-WC-Webhook-Signature"] = sign("s", other)
    assert WooCommercePlatform.read_webhook(headers, other, "s").delivery_id != event.delivery_id


@pytest.mark.parametrize("body", [{"order_id": 5, "stat_status": 2}, {"order": {"order_id": 5}},
                                  {"event": "order_update", "data": {"order_id": 5}}, {"orders": [{"order_id": 5}]}])
def test_R_HOOK_1_cartum_deliveries_name_their_order_however_wrapped(body):
    raw = json.dumps(body).encode()
    event = CartumPlatform.read_webhook(Headers(), raw, "")
    assert event.order_ids == ("5",) and event.changed_at == hashlib.sha256(raw).hexdigest()


def test_a_delivery_about_something_else_names_no_order():
    body = json.dumps({"id": 1, "name": "Product"}).encode()
    headers = Headers({"X-Shopify-Hmac-Sha256": sign("k", body), "X-Shopify-Topic": "products/update"})
    assert ShopifyPlatform.read_webhook(headers, body, "k").order_ids == ()


@pytest.mark.parametrize("value, expected", [("", ""), ("https://crm.example.com/", "https://crm.example.com"),
                                             ("https://example.com/orderdock", "https://example.com/orderdock"),
                                             ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
                                             ("http://192.168.1.20:5000/", "http://192.168.1.20:5000")])
def test_R_HOOK_4_public_base_url_accepted(value, expected):
    assert public_base_url(value) == expected


@pytest.mark.parametrize("value", ["http://crm.example.com", "crm.example.com", "ftp://x", "https://u:p@x.com",
                                   "https://x.com/?a=1"])
def test_R_HOOK_4_public_base_url_refused_with_what_to_set(value):
    with pytest.raises(ConfigError) as refused:
        public_base_url(value)
    assert "https://" in str(refused.value)
