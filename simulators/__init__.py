"""Platform simulators: loopback Flask apps that speak Cartum's, Shopify's and WooCommerce's
public API contracts, with seeded data and a control API under ``/_sim/``.

They import nothing from ``webapp``: a simulator that shared code with the adapter it checks
would agree with it by construction. Each platform module exposes
``create_app(orders: int = 200, seed: int = 1, **options) -> Flask``.
"""
from __future__ import annotations

import importlib

PLATFORMS = ("cartum", "shopify", "woocommerce")


def create_app(platform: str, **options):
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    return importlib.import_module(f"simulators.{platform}").create_app(**options)
