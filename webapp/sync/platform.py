"""The adapter for a store: the only place a Store row becomes a platform ``Platform``."""
from __future__ import annotations

from flask import current_app

from webapp.extensions import redis_client
from webapp.models import Store
from webapp.platforms import PLATFORMS
from webapp.platforms.base import Platform, PlatformRules
from webapp.platforms.http import HttpSettings, PlatformHttp

WEB_HTTP = HttpSettings(read_timeout=15.0, attempts=2, max_retry_wait=3.0, short_retry_after=2.0,
                        max_budget_wait=5.0)
"""A person waits for the wizard's live check: fail within seconds and say why, rather than
retry for a minute as a background job may."""


def http_for_worker() -> PlatformHttp:
    """One HTTP layer per process, sharing each shop's request budget through Redis."""
    return _shared_http("orderdock_http", HttpSettings())


def http_for_web() -> PlatformHttp:
    """The same for a person waiting on a page: short timeouts (``WEB_HTTP``)."""
    return _shared_http("orderdock_web_http", WEB_HTTP)


def _shared_http(key: str, settings: HttpSettings) -> PlatformHttp:
    http = current_app.extensions.get(key)
    if http is None:
        http = current_app.extensions[key] = PlatformHttp(
            redis_client(), settings, allow_private=current_app.config["ALLOW_PRIVATE_SHOP_ADDRESSES"])
    return http


def platform_for(store: Store, http: PlatformHttp | None = None) -> Platform:
    return platform_from(store.platform, store.url, store.credentials, store.timezone, store.language,
                         http or http_for_worker())


def platform_from(platform: str, url: str, credentials: dict, timezone: str, language: str,
                  http: PlatformHttp) -> Platform:
    """An adapter from a store's values, saved or not (the wizard checks before saving).

    R-IMP-8: a store without a time zone gets the adapter's own default (Cartum: Europe/Kyiv),
    never the back office's TIMEZONE: that is where the office is, not where the shop is."""
    options = {"timezone": timezone or "", "language": language}
    return PLATFORMS[platform](url, credentials, options, http)


def rules_for(store: Store) -> PlatformRules:
    return PLATFORMS[store.platform].RULES


def shop_links(store: Store) -> Platform:
    """An adapter good for building links into the shop's admin (R-ORD-2, R-ORD-4): no
    credentials are decrypted and nothing is sent."""
    return platform_from(store.platform, store.url, {}, store.timezone, store.language, http_for_web())
