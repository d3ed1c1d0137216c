"""HTTP for the Shopify REST Admin API: auth, cursor paging, the call-limit bucket, errors.

Role in ``platforms/``: the Shopify "adapter" half that knows HTTP. Every request goes
through ``Platform.request`` (so through ``PlatformHttp`` and the shop's shared budget);
this module adds what is Shopify's own (shopify.md A2-A4, A7):

* the version is pinned in the path, ``/admin/api/{YYYY-MM}/``;
* auth is the ``X-Shopify-Access-Token`` header, with either a static token (a custom app
  made in the shop admin) or a client id + secret exchanged for a token at
  ``/admin/oauth/access_token`` (client credentials grant; the token expires, about daily,
  and is exchanged again shortly before that or on a 401);
* list endpoints page by the ``Link`` header: the first request carries the filters, every
  next one only what the ``rel="next"`` link carries (``page_info``, ``limit``, ``fields``);
  the link's own host is not trusted, only its query, so the token never leaves the shop's
  origin;
* ``X-Shopify-Shop-Api-Call-Limit: used/size``: when the leaky bucket is nearly full the
  shop's shared budget is paused until it has drained below the mark; a 429 is handled by
  ``PlatformHttp`` (Retry-After, then ``RateLimited``);
* error bodies ``{"errors": "..."}`` / ``{"errors": {"field": [...]}}`` become typed errors;
* every page passes ``paging.PageGuard``: a page served again for the next link (a cache in
  front of the shop) is asked for again and then stops the run (R-REL-2); so is a page with
  records that do not answer its filters (a cache ignoring the query: ``belongs``).

The token is sent in a header only; nothing here logs headers, queries or bodies.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, NotFound, PlatformError, clean_text,
)
from webapp.platforms.http import HttpSettings, read_json
from webapp.platforms.paging import Belongs, PageGuard

log = logging.getLogger(__name__)

API_VERSION = "2026-07"
"""Default pinned version: the newest with REST resources in the official clients (A1)."""
MAX_LIMIT = 250
MAX_PAGES = 100_000
"""Bound on any paging loop (25 million orders at 250 a page)."""
NEAR_FULL = 0.8
"""Share of the call-limit bucket at which we slow down."""
SECONDS_TO_DRAIN = 20.0
"""Every plan's bucket leaks fully in 20 s (40 at 2/s, 80 at 4/s, 400 at 20/s; A7)."""
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0
REFRESH_MARGIN = 300.0

_VERSION = re.compile(r"\d{4}-(01|04|07|10)")
_LINK = re.compile(r'<([^<>]+)>\s*;\s*rel="?([A-Za-z]+)"?')
_CALL_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

Send = Callable[..., requests.Response]


def checked_version(value: str | None) -> str:
    """The ``api_version`` option: "YYYY-MM" of a quarterly release, default ``API_VERSION``."""
    version = clean_text(value) or API_VERSION
    if not _VERSION.fullmatch(version):
        raise PlatformError(f"Shopify API version {version!r} is not a release such as "
                            f"{API_VERSION}; fix the store's api_version option.")
    return version


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


class StaticToken:
    """The Admin API access token of a custom app made in the shop admin; never expires."""

    def __init__(self, token: str) -> None:
        self._token = clean_text(token)

    def token(self) -> str:
        if not self._token:
            raise AuthFailed("Enter the Shopify Admin API access token, or the client ID and "
                             "secret of an app from Shopify's Dev Dashboard, and save the store.")
        return self._token

    def refresh(self) -> bool:
        """A static token cannot be renewed: a 401 means it was revoked."""
        return False


class ClientCredentials:
    """A Dev Dashboard app's client id and secret, exchanged for expiring tokens (A2).

    Tokens are cached per process, keyed by a hash of shop, id and secret, and renewed
    ``REFRESH_MARGIN`` seconds before they expire. RQ runs each job in a fresh work horse,
    so a job exchanges at most once (plus once per expiry or 401).
    """

    _cache: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

    def __init__(self, send: Send, origin: str, client_id: str, client_secret: str) -> None:
        self._send = send
        self._url = f"{origin}/admin/oauth/access_token"
        self._form = {"grant_type": "client_credentials", "client_id": clean_text(client_id),
                      "client_secret": clean_text(client_secret)}
        self._key = hashlib.sha256("\0".join((origin, *self._form.values())).encode()).hexdigest()

    def token(self) -> str:
        with self._lock:
            token, expires = self._cache.get(self._key, ("", 0.0))
        return token if time.monotonic() < expires else self._exchange()

    def refresh(self) -> bool:
        with self._lock:
            self._cache.pop(self._key, None)
        self._exchange()
        return True

    def _exchange(self) -> str:
        response = self._send("POST", self._url, data=self._form,
                              headers={"Accept": "application/json"})
        if response.status_code == 404:
            raise BadPayload("There is no Shopify token exchange at this address. Enter the "
                             "shop's my-shop.myshopify.com address.")
        if response.status_code in (400, 401, 403):
            raise AuthFailed("Shopify refused the client ID and secret. Check them in the app's "
                             "settings in the Dev Dashboard, check that the app is installed on "
                             "this shop, and edit the store.")
        raise_for_error(response)
        body = read_json(response)
        token = clean_text(body.get("access_token")) if isinstance(body, Mapping) else ""
        if not token:
            raise BadPayload("Shopify's token exchange answered without an access token.")
        lifetime = _seconds(body.get("expires_in"), DEFAULT_TOKEN_LIFETIME)
        expires = time.monotonic() + max(lifetime - min(REFRESH_MARGIN, lifetime / 10), 1.0)
        with self._lock:
            self._cache[self._key] = (token, expires)
        return token


def _seconds(value: Any, default: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def error_text(response: requests.Response, limit: int = 300) -> str:
    """Shopify's error envelope as one line: ``errors`` (text, list or field map) or OAuth's
    ``error_description`` / ``error``; "" when the body is not that."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, Mapping):
        return ""
    errors = body.get("errors", body.get("error_description") or body.get("error"))
    return _flatten(errors)[:limit]


def _flatten(errors: Any) -> str:
    if isinstance(errors, Mapping):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in errors.items())
    if isinstance(errors, (list, tuple)):
        return ", ".join(_flatten(value) for value in errors)
    return clean_text(errors)


def raise_for_error(response: requests.Response) -> None:
    """Map a Shopify 4xx to a typed error (5xx and 429 never get here: ``PlatformHttp``)."""
    status = response.status_code
    if status < 400:
        return
    said = error_text(response)
    if status == 401:
        raise AuthFailed("Shopify refused the Admin API access token (HTTP 401): it was revoked "
                         "or the app was uninstalled. Create a new token and edit the store.")
    if status == 403:
        raise AuthFailed(f"Shopify refused access (HTTP 403{': ' + said if said else ''}). Give the "
                         "app the read_orders and read_products scopes, install it again, and "
                         "edit the store.")
    if status == 402:
        raise ApiNotAvailable("The Shopify shop is frozen or its plan is unpaid (HTTP 402); its "
                              "API is closed until the plan is paid.")
    if status == 423:
        raise ApiNotAvailable("The Shopify shop is locked (HTTP 423); its owner must contact "
                              "Shopify support before orders can be imported.")
    if status == 404:
        raise NotFound()
    raise PlatformError(f"Shopify refused the request (HTTP {status}{': ' + said if said else ''}).")


# ---------------------------------------------------------------------------------------------
# Link header and call limit
# ---------------------------------------------------------------------------------------------


def link_params(header: str | None) -> dict[str, dict[str, str]]:
    """``Link`` header -> {rel: query parameters of that link}, e.g. {"next": {"page_info":
    ..., "limit": "250"}}. Only the query is kept; the host and path are ours."""
    links: dict[str, dict[str, str]] = {}
    for url, rel in _LINK.findall(header or ""):
        links[rel.lower()] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return links


def call_limit(response: requests.Response) -> tuple[int, int] | None:
    """``X-Shopify-Shop-Api-Call-Limit: 32/40`` -> (32, 40); None when absent or odd."""
    match = _CALL_LIMIT.fullmatch(response.headers.get("X-Shopify-Shop-Api-Call-Limit", ""))
    if not match or int(match.group(2)) <= 0:
        return None
    return int(match.group(1)), int(match.group(2))


def drain_wait(used: int, size: int) -> float:
    """Seconds until a bucket at ``used``/``size`` is back under ``NEAR_FULL``; 0 below it."""
    mark = NEAR_FULL * size
    if used < mark:
        return 0.0
    return (used - mark + 1) * SECONDS_TO_DRAIN / size


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class ShopifyClient:
    """GET JSON from one shop's REST Admin API at one version.

    ``send`` is ``Platform.request`` (shared budget); ``pause(seconds)`` holds off every
    process's requests to this shop (``RequestBudget.pause``); ``auth`` is a
    ``StaticToken`` or ``ClientCredentials``; ``settings`` bound asking again for a page
    served twice (``PageGuard``).
    """

    def __init__(self, send: Send, origin: str, auth: StaticToken | ClientCredentials, *,
                 api_version: str = API_VERSION, pause: Callable[[float], None] | None = None,
                 page_size: int = MAX_LIMIT, settings: HttpSettings | None = None) -> None:
        self._send = send
        self._settings = settings
        self._auth = auth
        self._pause = pause
        self.base = f"{origin}/admin/api/{checked_version(api_version)}"
        self.page_size = max(1, min(MAX_LIMIT, int(page_size)))

    def get(self, resource: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET {base}/{resource}.json`` as a JSON object."""
        return _object(self._get(resource, params))

    def pages(self, resource: str, key: str, params: Mapping[str, Any] | None = None, *,
              page_info: str | None = None,
              belongs: Belongs | None = None) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Yield (the page's ``key`` list, the next page's ``page_info`` or None).

        The first request sends ``params`` and ``limit``; with ``page_info`` (a resumed run)
        it sends only that and ``limit``, as Shopify requires, so the cursor's own filters
        apply. After that, only the query of the ``rel="next"`` link is sent. ``belongs``
        tells the guard whether a record answers these filters (``paging.PageGuard``).
        """
        query: dict[str, Any] = ({"page_info": page_info, "limit": self.page_size} if page_info
                                 else {**(params or {}), "limit": self.page_size})
        seen: set[str] = set()
        guard = PageGuard(resource, api=f"{self.base}/", settings=self._settings)
        for _ in range(MAX_PAGES):
            response, items = guard.read(lambda: self._page(resource, key, query), lambda page: page[1],
                                         belongs=belongs)
            query = link_params(response.headers.get("Link")).get("next") or {}
            cursor = query.get("page_info") or None
            if cursor in seen:
                raise BadPayload("Shopify sent the same page link twice; stopped to avoid a loop.")
            yield [item for item in items if isinstance(item, dict)], cursor
            if cursor is None:
                return
            seen.add(cursor)
        raise PlatformError(f"Stopped after {MAX_PAGES} pages of Shopify {resource}.")

    def _page(self, resource: str, key: str, query: Mapping[str, Any]) -> tuple[requests.Response, list[Any]]:
        response = self._get(resource, query)
        items = _object(response).get(key)
        if not isinstance(items, list):
            raise BadPayload(f"Shopify's answer for {resource} has no {key!r} list.")
        return response, items

    def post(self, resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST {base}/{resource}.json``, sent once (creating twice would make two)."""
        return _object(self._call("POST", resource, json=dict(body), retry=False))

    def delete(self, resource: str) -> None:
        """``DELETE {base}/{resource}.json``; a 404 is NotFound."""
        self._call("DELETE", resource)

    def _get(self, resource: str, params: Mapping[str, Any] | None) -> requests.Response:
        return self._call("GET", resource, params=params)

    def _call(self, method: str, resource: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base}/{resource}.json"
        response = self._send(method, url, headers=self._headers(), **kwargs)
        if response.status_code == 401 and self._auth.refresh():
            response = self._send(method, url, headers=self._headers(), **kwargs)
        self._watch(response)
        raise_for_error(response)
        return response

    def _headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self._auth.token(), "Accept": "application/json"}

    def _watch(self, response: requests.Response) -> None:
        """Slow down before the leaky bucket overflows; pass on deprecation notices."""
        limit = call_limit(response)
        wait = drain_wait(*limit) if limit else 0.0
        if wait > 0 and self._pause is not None:
            log.info("Shopify call limit at %d/%d; pausing this shop for %.1f s", *limit, wait)
            self._pause(wait)
        reason = clean_text(response.headers.get("X-Shopify-API-Deprecated-Reason"))
        if reason:
            log.warning("Shopify marks %s as deprecated: %s", urlsplit(response.url or "").path,
                        reason[:200])


def _object(response: requests.Response) -> dict[str, Any]:
    body = read_json(response)
    if not isinstance(body, dict):
        raise BadPayload("Shopify answered with JSON that is not an object.")
    return body
