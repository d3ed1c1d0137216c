"""Talking to the shops: one adapter per platform behind the ``Platform`` interface.

Role: ``base.py`` is the contract (records, errors, rules), ``http.py`` the shared HTTP
layer, and each platform's package (``cartum/``, ``shopify/``, ``woocommerce/``) an adapter.
Nothing here imports Flask, the database, RQ or the app's other layers.
"""
from __future__ import annotations

# Adapters register here under their ``Platform.name`` ("cartum", "shopify", "woocommerce"),
# so the wizard's platform list and the sync jobs find them without naming a platform.
PLATFORMS: dict[str, type] = {}

from webapp.platforms.cartum import CartumPlatform  # noqa: E402  (after PLATFORMS: adapters may read it)
from webapp.platforms.shopify import ShopifyPlatform  # noqa: E402
from webapp.platforms.woocommerce import WooCommercePlatform  # noqa: E402

PLATFORMS.update({adapter.name: adapter for adapter in (CartumPlatform, ShopifyPlatform, WooCommercePlatform)})
