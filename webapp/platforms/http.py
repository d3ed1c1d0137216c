"""The one HTTP layer every platform adapter talks through.

Role in ``platforms/``: adapters build URLs and read their platform's JSON; this module
owns what is the same for every shop:

* one ``requests.Session`` per process, with connect/read timeouts;
* bounded retries with exponential backoff and jitter on 5xx, connection errors,
  timeouts and bodies that claim to be JSON but are cut off or malformed (R-REL-2: a
  transient fault, ``TruncatedPayload``); a 429's ``Retry-After`` is waited out when short, raised as ``RateLimited``
  when long;
* a request budget per shop (e.g. "2/second"), counted in Redis by the ``limits``
  package's moving window, so all worker processes *together* stay under the shop's
  limit; when it is spent we wait (bounded) for a free slot instead of failing;
* typed errors (``Unreachable``, ``RateLimited``, ``StoreMoved``, ``TruncatedPayload``,
  ``BadPayload``) whose
  messages name the host only;
* logs with method, host, path and status only: query strings, headers and bodies carry
  tokens (WooCommerce keys, Cartum's token in the body, Shopify's header) and never reach
  a log line or an error message;
* R-SEC-1: shops only at public addresses (``addresses.py``: every connection, every redirect
  hop, the checked address pinned). A refused address reads to the user exactly like an
  unreachable shop, so the wizard cannot be used to map the private network; the log says more.

2xx and 4xx responses are returned: each platform has its own error envelope, which its
adapter maps to typed errors.
"""
from __future__ import annotations

import functools
import logging
import os
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import limits
import requests
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis

from webapp.platforms.addresses import AddressPolicy, AddressRefused, allowed_by_environment, shop_session
from webapp.platforms.base import (
    BadPayload, PlatformError, RateLimited, StoreMoved, TruncatedPayload, Unreachable,
)

log = logging.getLogger(__name__)

REDIS_PREFIX = "orderdock:budget"

_QUERY = re.compile(r"\?[^\s\"']*")
CONNECTION_FAILED = "connection failed"
"""The reason a failed connection and a refused address both give (R-SEC-1)."""


class _DropQueryStrings(logging.Filter):
    """Removes query strings from urllib3's own records.

    At DEBUG, urllib3 logs every request line, query string included, which holds
    WooCommerce's consumer key and secret. Installed once on import: secrets must stay out
    of the logs whatever level an operator turns on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("?<hidden>", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _DropQueryStrings) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_DropQueryStrings())


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry and budget bounds. Defaults suit production; tests shrink them."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5
    """First retry waits about this long (half fixed, half random), doubling each time."""
    max_backoff: float = 8.0
    max_retry_wait: float = 30.0
    """Total sleep allowed between the attempts of one request."""
    short_retry_after: float = 5.0
    """A 429 asking to wait at most this long is waited out here, not raised."""
    max_budget_wait: float = 30.0
    """Longest wait for a free slot in the shop's budget before raising RateLimited."""
    budget_margin: float = 0.05
    """Extra wait after a slot frees: network jitter must not let a shop see N+1 requests
    in one of its windows because an earlier request travelled slower than a later one."""
    user_agent: str = "Mozilla/5.0 (compatible; Orderdock/0.1)"
    """Browser-like: some Cartum stores reject unknown agents (cartum.md A.1)."""


@functools.lru_cache(maxsize=64)
def _rate_item(rate: str) -> limits.RateLimitItem:
    return limits.parse(rate)  # raises ValueError for a malformed rate: an adapter bug


class RequestBudget:
    """How many requests one shop gets per window, counted across all processes.

    ``limits``' moving window in Redis (or in memory when ``redis`` is None, for the CLI
    preview). Timestamps come from each process's clock, so machines sharing a Redis need
    NTP-synced clocks. A shop's 429 also pauses the key for everyone (``pause``).
    """

    def __init__(self, redis: Redis | None, settings: HttpSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._pauses: dict[str, float] = {}  # in-memory pauses: key -> monotonic deadline
        storage = MemoryStorage() if redis is None else RedisStorage(
            "redis://", connection_pool=redis.connection_pool, key_prefix=REDIS_PREFIX)
        self._limiter = MovingWindowRateLimiter(storage)

    def acquire(self, key: str, rate: str) -> None:
        """Take one slot of ``rate`` for ``key``, waiting up to ``max_budget_wait``."""
        item = _rate_item(rate)
        deadline = time.monotonic() + self._settings.max_budget_wait
        while True:  # bounded: every round sleeps >= 10 ms and the deadline ends it
            wait = self._pause_left(key)
            if wait <= 0 and self._limiter.hit(item, key):
                return
            wait = max(wait, self._slot_wait(item, key), 0.01)
            if time.monotonic() + wait > deadline:
                raise RateLimited(wait, "The shop's request budget is used up for now. "
                                        "Nothing to do: the sync continues by itself.")
            time.sleep(wait)

    def _slot_wait(self, item: limits.RateLimitItem, key: str) -> float:
        stats = self._limiter.get_window_stats(item, key)
        if stats.remaining > 0:
            return 0.0  # a slot freed since our hit; try again at once
        margin = self._settings.budget_margin
        return stats.reset_time - time.time() + margin + random.uniform(0, margin)

    def pause(self, key: str, seconds: float) -> None:
        """Stop every process from sending to ``key`` for ``seconds`` (the shop said 429)."""
        if seconds <= 0:
            return
        if self._redis is None:
            self._pauses[key] = time.monotonic() + seconds
        else:
            self._redis.set(f"{REDIS_PREFIX}:pause:{key}", 1, px=max(1, int(seconds * 1000)))

    def _pause_left(self, key: str) -> float:
        if self._redis is None:
            return self._pauses.get(key, 0.0) - time.monotonic()
        return max(0, self._redis.pttl(f"{REDIS_PREFIX}:pause:{key}")) / 1000


@dataclass(frozen=True)
class _Where:
    """What may be logged about a request: never the query string, headers or body."""

    method: str
    host: str
    path: str

    @classmethod
    def of(cls, method: str, url: str) -> _Where:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        host = f"[{host}]" if ":" in host else host  # an IPv6 address as it is written in a URL
        port = f":{parts.port}" if parts.port else ""
        return cls(method.upper(), f"{host}{port}", parts.path or "/")

    def __str__(self) -> str:
        return f"{self.method} {self.host}{self.path}"


class PlatformHttp:
    """The HTTP client adapters share; one per process (see ``session``).

    ``PlatformHttp(redis)`` counts budgets in Redis; ``PlatformHttp(None)`` in memory.
    ``allow_private`` is ALLOW_PRIVATE_SHOP_ADDRESSES (None: read it from the environment).
    """

    def __init__(self, redis: Redis | None = None, settings: HttpSettings | None = None, *,
                 allow_private: bool | None = None) -> None:
        self.settings = settings or HttpSettings()
        self.budget = RequestBudget(redis, self.settings)
        self.addresses = AddressPolicy(allowed_by_environment() if allow_private is None else allow_private)
        self._session: requests.Session | None = None
        self._pid = 0

    @property
    def session(self) -> requests.Session:
        # RQ forks a work horse per job: a pooled socket inherited from the parent would be
        # shared by two processes, so each process opens its own session.
        if self._session is None or self._pid != os.getpid():
            self._session = shop_session(self.addresses)
            self._session.headers["User-Agent"] = self.settings.user_agent
            self._pid = os.getpid()
        return self._session

    def close(self) -> None:
        if self._session is not None and self._pid == os.getpid():
            self._session.close()
        self._session = None

    def request(self, method: str, url: str, *, budget_key: str, rate: str, retry: bool = True,
                **kwargs: Any) -> requests.Response:
        """Send one request within the shop's budget; return its 2xx/4xx response.

        ``budget_key`` names the shop's shared budget and ``rate`` its size ("2/second").
        ``kwargs`` go to ``requests`` (params, json, data, headers, auth, ...). Redirects are
        not followed unless ``allow_redirects=True``: following one would send tokens in
        custom headers to another host and turn a POST into a GET; a 3xx raises StoreMoved.
        ``retry=False`` sends once (for a call that must not be repeated).
        Raises Unreachable, RateLimited, StoreMoved, TruncatedPayload.
        """
        kwargs.setdefault("timeout", (self.settings.connect_timeout, self.settings.read_timeout))
        kwargs.setdefault("allow_redirects", False)
        where = _Where.of(method, url)
        attempts = max(1, self.settings.attempts if retry else 1)
        slept = 0.0
        for attempt in range(1, attempts + 1):
            self.budget.acquire(budget_key, rate)
            outcome = self._send(method, url, where, kwargs)
            if isinstance(outcome, requests.Response):
                return self._not_moved(outcome, url, where)
            delay = self._retry_delay(outcome, attempt, budget_key)
            if attempt == attempts or delay is None or slept + delay > self.settings.max_retry_wait:
                log.warning("%s gave up after %d attempt(s): %s", where, attempt, outcome.code)
                raise outcome
            log.warning("%s: %s; retry %d in %.2f s", where, outcome.code, attempt, delay)
            time.sleep(delay)
            slept += delay
        raise AssertionError("the loop always returns or raises")  # pragma: no cover

    def _send(self, method: str, url: str, where: _Where,
              kwargs: dict[str, Any]) -> requests.Response | PlatformError:
        """One attempt: the response, or the typed error describing a transient failure."""
        started = time.monotonic()
        try:
            response = self.session.request(method, url, **kwargs)
        except AddressRefused as exc:
            return self._refused(where, exc.refused)
        except requests.RequestException as exc:
            # The exception's text holds the full URL with its query string: log its type only.
            log.warning("%s failed: %s", where, type(exc).__name__)
            return _unreachable(exc, where.host)
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s -> %d in %.0f ms", where, response.status_code, elapsed)
        if response.status_code == 429:
            return RateLimited(_retry_after(response) or self._backoff(1))
        if response.status_code >= 500:
            return Unreachable(host=where.host, reason=f"server error {response.status_code}")
        if _unreadable_json(response, method):
            log.warning("%s: a JSON body cut off or malformed", where)
            return TruncatedPayload(host=where.host, status=response.status_code)
        return response

    @staticmethod
    def _refused(where: _Where, refused: Exception) -> Unreachable:
        """R-SEC-1: what a failed connection says (``_unreachable``), and the reason in the log
        only. Not retried: the address will not become public by asking again."""
        log.warning("%s refused: %s; shops must have public addresses (ALLOW_PRIVATE_SHOP_ADDRESSES "
                    "is off)", where, refused)
        error = Unreachable(host=where.host, reason=CONNECTION_FAILED)
        error.retryable = False
        return error

    def _not_moved(self, response: requests.Response, url: str, where: _Where) -> requests.Response:
        """The response, unless it redirects: then StoreMoved, or, when the new address is not
        public, the refusal (a redirect must not tell what a private address answers)."""
        if not response.is_redirect:  # 301/302/303/307/308 with a Location header
            return response
        target = urlsplit(urljoin(url, response.headers["Location"]))
        try:
            port = target.port or (443 if target.scheme == "https" else 80)
        except ValueError:
            port = 80
        refused = self.addresses.refusal(target.hostname, port)
        if refused is not None:
            raise self._refused(where, refused)
        raise StoreMoved(f"{target.scheme}://{target.netloc.rpartition('@')[2]}")

    def _retry_delay(self, error: PlatformError, attempt: int, budget_key: str) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if isinstance(error, RateLimited):
            self.budget.pause(budget_key, error.retry_after)  # other processes hold off too
            if error.retry_after > self.settings.short_retry_after:
                return None
            return error.retry_after + random.uniform(0, self.settings.budget_margin)
        return self._backoff(attempt) if error.retryable else None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(self.settings, attempt)


def backoff_delay(settings: HttpSettings, attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1``: ``backoff`` doubling up to ``max_backoff``,
    half fixed and half random so that many workers do not ask again in step."""
    base = min(settings.max_backoff, settings.backoff * 2 ** (attempt - 1))
    return base / 2 + random.uniform(0, base / 2)


def _unreachable(exc: requests.RequestException, host: str) -> Unreachable:
    if isinstance(exc, requests.exceptions.SSLError):
        return Unreachable(host=host, reason="its HTTPS certificate was refused")
    if isinstance(exc, requests.Timeout):
        return Unreachable(host=host, reason="timed out")
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return Unreachable(host=host, reason=CONNECTION_FAILED)
    error = Unreachable(host=host, reason="the request could not be sent")
    error.retryable = False  # a malformed URL or header will not get better by retrying
    return error


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds: a number (Shopify sends fractions) or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _unreadable_json(response: requests.Response, method: str = "GET") -> bool:
    """True when the body claims to be JSON (by its type or its first character) but does not
    parse: cut off in transit or mangled, a fault that asking again cures. An HTML page (a
    bot check, a wrong URL) is not this, whatever its Content-Type says."""
    if response.status_code == 204 or method.upper() == "HEAD":
        return False
    start = response.content.lstrip()[:1]
    kind = response.headers.get("Content-Type", "").lower()
    if start == b"<" or not ("json" in kind or start in (b"{", b"[")):
        return False
    try:
        response.json()
    except ValueError:
        return True
    return False


def read_json(response: requests.Response) -> Any:
    """The response's JSON; TruncatedPayload when a JSON body is cut off or malformed (only
    for a response sent without retries: ``PlatformHttp`` retries those), BadPayload when it
    is not JSON at all (an HTML page, a bot check)."""
    try:
        return response.json()
    except ValueError:
        host = urlsplit(response.url or "").hostname or "the shop"
        if _unreadable_json(response):
            raise TruncatedPayload(host=host, status=response.status_code) from None
        kind = response.headers.get("Content-Type", "no content type").split(";")[0].strip()
        raise BadPayload(
            f"{host} answered with {kind} instead of API data (HTTP {response.status_code}). "
            "Check the store's Website URL and that the platform's API is enabled for this "
            "shop; a bot check in front of the shop can cause this too.") from None
