"""HTTP to one WooCommerce store's REST API v3 (``/wp-json/wc/v3``).

Role in ``platforms/``: the *adapter's wire*. It signs requests, reads the paging headers
and turns WooCommerce's error envelope into typed errors; ``__init__.py`` decides what to
ask for and ``mapping.py`` what the answers mean. Everything goes through ``PlatformHttp``
(budget, retries, timeouts).

Authentication (woocommerce.md B2):

* over **https**: HTTP Basic with consumer key / secret. Servers that strip the
  ``Authorization`` header ("Consumer key is missing") can send them as query parameters
  instead (``query_string_auth``);
* over plain **http**: WooCommerce ignores Basic and wants OAuth 1.0a one-legged: HMAC-SHA1
  with ``consumer_secret + "&"`` as the key, the parameters in the query string. Signing is
  done by ``requests-oauthlib`` / ``oauthlib``, never by hand.

Keys never reach a log line or an error message: ``http.py`` logs method, host and path only,
the OAuth libraries' own debug records are dropped below, and the messages quote
WooCommerce's own (key-free) error text at most.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_QUERY
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1

from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, NotFound, PlatformError, Rejected, clean_text,
)
from webapp.platforms.http import read_json

API_PATH = "/wp-json/wc/v3"
PER_PAGE = 100  # WooCommerce's maximum (B3)

Send = Callable[..., requests.Response]


class _NoSigningDetails(logging.Filter):
    """Drops oauthlib's and requests-oauthlib's DEBUG/INFO records.

    At DEBUG they log the consumer key, the signed URL and the signature base string of
    every request (R-CON-8). Logger filters only see records created by that very logger,
    so each module's logger gets one; warnings and errors still pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


for _name in ("oauthlib", "oauthlib.oauth1.rfc5849", "oauthlib.oauth1.rfc5849.signature",
              "requests_oauthlib.oauth1_auth"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _NoSigningDetails) for f in _logger.filters):
        _logger.addFilter(_NoSigningDetails())

_PERMALINKS = (
    "The shop's WooCommerce REST API was not found at {where}. Check that the Website URL is the "
    "WordPress site's address, that WooCommerce is active, and that Settings > Permalinks is not "
    "set to \"Plain\" (the REST API needs pretty permalinks), and that no security plugin "
    "disables the REST API.")
_FIREWALL = (
    "Something in front of the shop (a firewall or a security plugin) blocked the REST API "
    "request (HTTP {status}). Allow /wp-json/wc/v3/ for the back office, then connect again.")
_READ_ONLY = (
    "The WooCommerce API key can only read. Edit the key in WooCommerce > Settings > Advanced > "
    "REST API and give it Read/Write permission: order statuses are sent back to the shop.")
_NO_READ = (
    "The WooCommerce API key may not read orders. Edit the key in WooCommerce > Settings > "
    "Advanced > REST API and give it Read/Write permission.")
_CLOCK = (
    "WooCommerce refused the request's timestamp: the shop's clock and ours differ by more "
    "than 15 minutes. Ask the host to fix the server time (NTP), then try again.")
_BAD_KEY = (
    "WooCommerce refused the consumer key or secret{said}. Create a key with Read/Write "
    "permission in WooCommerce > Settings > Advanced > REST API and paste both values.")
_NO_RIGHTS = (
    "WooCommerce did not accept the key{said}: it is unknown, revoked, or its user may not "
    "manage orders. Create a key with Read/Write permission for a Shop manager or "
    "Administrator in WooCommerce > Settings > Advanced > REST API.")


@dataclass(frozen=True)
class Answer:
    """A successful response: its JSON and WooCommerce's paging headers (None if absent)."""

    data: Any
    total: int | None = None
    total_pages: int | None = None


def _header_int(response: requests.Response, name: str) -> int | None:
    value = clean_text(response.headers.get(name))
    return int(value) if value.isdigit() else None


class WooClient:
    """Calls ``{store}/wp-json/wc/v3/...`` through ``send`` (the adapter's ``request``)."""

    def __init__(self, store_url: str, consumer_key: str, consumer_secret: str, send: Send, *,
                 query_string_auth: bool = False) -> None:
        key, secret = clean_text(consumer_key), clean_text(consumer_secret)
        if not key or not secret:
            raise AuthFailed("Enter the WooCommerce consumer key and consumer secret.")
        self.base = store_url.rstrip("/") + API_PATH
        self._send = send
        self._auth, self._auth_params = auth_for(store_url, key, secret, query_string_auth)

    def __repr__(self) -> str:
        return f"<WooClient {self.base}>"  # never the keys

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        response = self._call("GET", path, params=dict(params or {}))
        return Answer(read_json(response), _header_int(response, "X-WP-Total"),
                      _header_int(response, "X-WP-TotalPages"))

    def get_list(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        """A collection endpoint: the answer must be a JSON array (no envelope, B3)."""
        answer = self.get(path, params)
        if not isinstance(answer.data, list):
            raise BadPayload(f"WooCommerce answered {path} with something other than a list. "
                             "Check that the Website URL is the shop's WordPress address.")
        return answer

    def put(self, path: str, body: Mapping[str, Any]) -> Any:
        # PUT with the same body is idempotent, so PlatformHttp may retry it (B6).
        return read_json(self._call("PUT", path, json=dict(body)))

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """Create: sent once, as sending again could create twice."""
        return read_json(self._call("POST", path, json=dict(body), retry=False))

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return read_json(self._call("DELETE", path, params=dict(params or {})))

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self._auth_params:
            kwargs["params"] = {**kwargs.get("params", {}), **self._auth_params}
        url = f"{self.base}/{path.lstrip('/')}"
        response = self._send(method, url, auth=self._auth, **kwargs)
        if response.status_code >= 400:
            raise error_for(response, method)
        return response


def auth_for(store_url: str, key: str, secret: str,
             query_string_auth: bool = False) -> tuple[Any, dict[str, str]]:
    """(requests auth object, extra query parameters) for the store's scheme (B2)."""
    if urlsplit(store_url).scheme == "https":
        if query_string_auth:
            return None, {"consumer_key": key, "consumer_secret": secret}
        return HTTPBasicAuth(key, secret), {}
    return OAuth1(key, client_secret=secret, signature_method=SIGNATURE_HMAC_SHA1,
                  signature_type=SIGNATURE_TYPE_QUERY), {}


# ---------------------------------------------------------------------------------------------
# WooCommerce's error envelope -> typed errors
# ---------------------------------------------------------------------------------------------


def _envelope(response: requests.Response) -> tuple[str, str] | None:
    """(code, message) of ``{"code", "message", "data": {"status"}}``, or None if not JSON."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return clean_text(body.get("code")), clean_text(body.get("message"))


def error_for(response: requests.Response, method: str = "GET") -> PlatformError:
    """The typed error for a 4xx answer (woocommerce.md B1, B2, B6). Sets ``platform_code``
    to WooCommerce's ``code`` ("" when the body was not WooCommerce JSON)."""
    status = response.status_code
    envelope = _envelope(response)
    code, message = envelope or ("", "")
    error = _typed(status, code, message, envelope is not None, response, method)
    error.platform_code = code  # type: ignore[attr-defined]
    return error


def _typed(status: int, code: str, message: str, is_json: bool, response: requests.Response,
           method: str) -> PlatformError:
    said = f" (it said: {message})" if message else ""
    if status == 404 and (code in ("rest_no_route", "rest_disabled") or not is_json):
        return ApiNotAvailable(_PERMALINKS.format(where=urlsplit(response.url or "").hostname or "the shop"))
    if code.endswith("_invalid_id") or code in ("woocommerce_rest_term_invalid", "rest_post_invalid_id"):
        return NotFound()
    if status in (401, 403) and not is_json:
        return AuthFailed(_BAD_KEY.format(said="")) if status == 401 else \
            ApiNotAvailable(_FIREWALL.format(status=status))
    if status in (401, 403) or code.startswith("woocommerce_rest_authentication"):
        return _auth_error(code, message, said)
    if status == 400 and code == "rest_invalid_param":
        return Rejected(f"WooCommerce refused the request{said}. Check the store's status mapping.")
    if method != "GET":
        return Rejected(f"WooCommerce refused the change (HTTP {status}{', ' + code if code else ''}){said}.")
    return PlatformError(f"WooCommerce answered HTTP {status}{said}. Try again later; if it "
                         "keeps happening, check the store's settings.")


def _auth_error(code: str, message: str, said: str) -> AuthFailed:
    lowered = message.lower()
    if "write permission" in lowered:
        return AuthFailed(_READ_ONLY)
    if "read permission" in lowered:
        return AuthFailed(_NO_READ)
    if "timestamp" in lowered:
        return AuthFailed(_CLOCK)
    if code.startswith("woocommerce_rest_cannot") or code in ("rest_forbidden", "rest_cannot_access"):
        return AuthFailed(_NO_RIGHTS.format(said=said))
    return AuthFailed(_BAD_KEY.format(said=said))
