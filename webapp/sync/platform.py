"""The adapter for a store: the only place a Store row becomes a platform ``Platform``."""
from __future__ import annotations

from flask import current_app

from webapp.extensions import redis_client
from webapp.models import Store
from webapp.platforms import PLATFORMS
from webapp.platforms.base import Platform, PlatformRules
from webapp.platforms.http import PlatformHttp


def http_for_worker() -> PlatformHttp:
    """One HTTP layer per process, sharing each shop's request budget through Redis."""
    http = current_app.extensions.get("orderdock_http")
    if http is None:
        http = PlatformHttp(redis_client())
        current_app.extensions["orderdock_http"] = http
    return http


def platform_for(store: Store, http: PlatformHttp | None = None) -> Platform:
    adapter = PLATFORMS[store.platform]
    options = {"timezone": store.timezone or current_app.config["TIMEZONE"], "language": store.language}
    return adapter(store.url, store.credentials, options, http or http_for_worker())


def rules_for(store: Store) -> PlatformRules:
    return PLATFORMS[store.platform].RULES
