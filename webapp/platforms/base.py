"""The contract between the shop platforms and the rest of Orderdock.

Role in ``platforms/``: everything an adapter hands to ``sync/`` is declared here, so that
``sync/`` never sees a platform's JSON and never asks ``if platform == ...``:

* normalized, immutable records (``RemoteOrder``, ``RemoteItem``, ``RemoteBuyer``,
  ``RemoteDelivery``, ``RemoteStatus``, ``OrdersPage``);
* typed errors (``PlatformError`` and subclasses) whose message tells an employee what went
  wrong and what to do, and whose ``code``/``retryable`` tell a job how to react;
* ``PlatformRules``: every difference between Cartum, Shopify and WooCommerce as data;
* the abstract ``Platform`` each adapter implements;
* small parsing helpers every adapter needs (times, money, the store URL a user typed).

This module imports neither Flask, the database, RQ nor any other layer of the app.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
from html.parser import HTMLParser
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # http.py imports this module for the errors; only type hints go back.
    import requests

    from webapp.platforms.http import PlatformHttp

ZERO = Decimal("0")
CENT = Decimal("0.01")

# ---------------------------------------------------------------------------------------------
# Helpers: text, money, times, URLs
# ---------------------------------------------------------------------------------------------


def clean_text(value: Any) -> str:
    """Platform text as a stripped ``str``; None, missing and "" all become ""."""
    if value is None:
        return ""
    return str(value).strip()


def money(value: Any, default: Decimal = ZERO) -> Decimal:
    """A platform amount or quantity as ``Decimal``; None and "" give ``default``.

    Accepts Decimal, int, float (read through its shortest repr, so 0.1 stays 0.1), and
    strings such as "598.94", " 12 ", "1 200.50" or "12,50" (a single decimal comma).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number = _to_decimal(value)
    if not number.is_finite():
        raise ValueError(f"Amount {value!r} is not a finite number.")
    return number


def money_or_none(value: Any) -> Decimal | None:
    """Like ``money`` but None / "" stay None (e.g. a delivery cost not calculated yet)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return money(value)


def _to_decimal(value: Any) -> Decimal:
    # bool is an int subclass: True would silently become 1.
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise TypeError(f"Amount must be a number or a string, not {type(value).__name__}.")
    if isinstance(value, float):
        value = repr(value)  # Decimal(0.1) would carry the binary error along
    if isinstance(value, str):
        value = _decimal_text(value)
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"Amount {value!r} is not a number.") from None


def _decimal_text(text: str) -> str:
    text = re.sub(r"[\s\u00a0\u202f]", "", text)  # thousands written with (narrow) spaces
    if "," in text and "." not in text and re.fullmatch(r"-?\d+,\d{1,2}", text):
        return text.replace(",", ".")
    if "," in text:
        # "1,200" could be 1.2 or 1200: refuse rather than guess a price wrong by 1000x.
        raise ValueError(f"Amount {text!r} is ambiguous; send it with a decimal point.")
    return text


def parse_platform_time(value: str | datetime, zone: str | None = None) -> datetime:
    """A platform timestamp as an aware UTC ``datetime``.

    Accepts ISO 8601 with an offset or "Z" (Shopify), "YYYY-MM-DD HH:MM:SS" and
    "DD.MM.YYYY HH:MM:SS" (Cartum), ``T``-separated strings without offset (WooCommerce),
    and datetimes. A time without an offset is read in ``zone`` (an IANA name such as
    "Europe/Kyiv", or "UTC" for WooCommerce's ``*_gmt`` fields); without ``zone`` it is an
    error, because guessing the zone is how incremental syncs silently miss orders.
    """
    moment = value if isinstance(value, datetime) else _parse_time_text(value)
    if moment.tzinfo is None or moment.utcoffset() is None:
        if not zone:
            raise ValueError(f"Time {value!r} has no UTC offset; pass the platform's time zone.")
        # At a DST fall-back hour a local time is ambiguous; fold=0 takes the first one.
        # Incremental syncs use an overlapping window, so an hour's doubt costs nothing.
        moment = moment.replace(tzinfo=_zone(zone))
    return moment.astimezone(timezone.utc)


def _parse_time_text(text: Any) -> datetime:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"Time {text!r} is empty or not a string.")
    text = text.strip()
    try:
        return datetime.fromisoformat(text)  # 3.11: "Z", offsets, " " or "T" separator
    except ValueError:
        pass
    for pattern in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(f"Time {text!r} is not in a format the platforms use.")


def _zone(name: str) -> timezone | ZoneInfo:
    if name.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}; use an IANA name such as Europe/Kyiv.") from None


def time_zone_name(text: Any) -> str:
    """A shop's time zone as typed (R-IMP-8), checked: an IANA name such as "Europe/Kyiv", or ""
    for none (the adapter's default then). Raises ValueError with a message for the form."""
    name = clean_text(text)
    if not name or name.upper() in ("UTC", "GMT"):
        return name and "UTC"
    try:
        ZoneInfo(name)  # refuses paths ("../x") as well as unknown names
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name[:64]!r} is not a time zone we know. Enter the shop's IANA time zone as "
                         "Region/City, for example Europe/Kyiv, Europe/Warsaw or America/New_York.") from None
    return name


_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def normalize_store_url(text: str) -> str:
    """The shop address a user typed, as ``scheme://host[:port][/path]``.

    "shop.example.com/" becomes "https://shop.example.com"; an explicit "http://" and a
    port are kept ("http://127.0.0.1:5001"), so the demo's simulators work. A path is kept
    without its trailing slash (WordPress may live in a subfolder); query and fragment go.
    Raises ValueError with a message for the form. Messages never echo the input, which
    might hold a password pasted as ``user:pass@host``.
    """
    raw = clean_text(text)
    if not raw:
        raise ValueError("Enter the shop's web address, for example https://shop.example.com.")
    if "://" not in raw:
        raw = "https://" + raw.lstrip("/")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("The shop's address must start with https:// or http://.")
    if "@" in parts.netloc:
        raise ValueError("That looks like an e-mail address or contains a login; enter only the "
                         "shop's web address, such as https://shop.example.com.")
    return f"{scheme}://{_netloc(parts, scheme)}{parts.path.rstrip('/')}"


def shop_address(url: str) -> str:
    """A shop's identity within its platform (R-REL-1): the normalized address without its
    scheme, a leading "www." or the scheme's default port, lower-cased. "https://www.Shop.ua/",
    "http://shop.ua" and "shop.ua:443" are one shop; a WordPress folder stays part of it."""
    parts = urlsplit(normalize_store_url(url))
    host = (parts.hostname or "").removeprefix("www.")
    port = f":{parts.port}" if parts.port not in (None, *_DEFAULT_PORTS.values()) else ""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}{port}{parts.path}".lower()


def _netloc(parts: Any, scheme: str) -> str:
    host = _checked_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("The port in the shop's address is not a number between 1 and 65535.") from None
    shown = f"[{host}]" if ":" in host else host
    return shown if port in (None, _DEFAULT_PORTS[scheme]) else f"{shown}:{port}"


def _checked_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")  # Cyrillic domains (.укр) are fine
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.split(".")
    is_name = all(_LABEL.fullmatch(label) for label in labels)
    if ascii_host != "localhost" and not (is_name and len(labels) > 1 and not labels[-1].isdigit()):
        raise ValueError("This is not a web address; enter it like https://shop.example.com.")
    return host


class _TextCollector(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3",
                         "h4", "h5", "h6", "blockquote", "section", "article", "hr"})
    _SKIPPED = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: Any) -> str:
    """A platform's rich-text description as plain text for the back office: tags dropped
    (script and style with their content), entities decoded, one line per paragraph or list
    item ("- " before list items), runs of spaces collapsed."""
    text = clean_text(html)
    if not text:
        return ""
    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    lines = (re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip()
             for line in "".join(collector.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def unwrap_orders(payload: Any, list_key: str, single_key: str) -> list[Mapping[str, Any]]:
    """The order objects in a saved response: ``{list_key: [...]}``, ``{single_key: {...}}``,
    a bare list, or a bare order. Raises ``BadPayload`` for anything else."""
    if isinstance(payload, Mapping):
        if isinstance(payload.get(list_key), list):
            payload = payload[list_key]
        elif isinstance(payload.get(single_key), Mapping):
            payload = [payload[single_key]]
        else:
            payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(item, Mapping) for item in payload):
        raise BadPayload("The file holds no orders: expected a list of orders or one order object.")
    return payload


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: Cartum and Shopify APIs live at the site root."""
    parts = urlsplit(normalize_store_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def signed_with(key: str, body: bytes, signature: str) -> bool:
    """R-HOOK-2: ``signature`` is base64(HMAC-SHA256(key, the raw body)), as Shopify and
    WooCommerce sign webhooks; compared in constant time. No key or no signature: False."""
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


def first_header(headers: Mapping[str, str], *names: str) -> str:
    """The first of these headers the request has, stripped ("" for none)."""
    return next((clean_text(headers.get(name)) for name in names if headers.get(name)), "")


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook's body as a JSON object; {} when it is not one (its signature was fine, so the
    platform sent it: a topic we do not read)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------------------------
# Normalized records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteStatus:
    """An order status as the platform names it (Step 2 of the wizard maps these, R-CON-5)."""

    id: str
    name: str

    def __post_init__(self) -> None:
        # Cartum ids arrive as ints and WooCommerce's as slugs; we always compare strings.
        object.__setattr__(self, "id", clean_text(self.id))
        object.__setattr__(self, "name", clean_text(self.name))


def _clean_str_fields(record: Any) -> None:
    for item in fields(record):
        if item.type in ("str", str):
            object.__setattr__(record, item.name, clean_text(getattr(record, item.name)))


@dataclass(frozen=True, kw_only=True, repr=False)
class RemoteBuyer:
    """The buyer of an order (R-CLI-1). Every field is a str, "" when unknown.

    ``phone`` is raw, as the platform gave it; ``sync/`` normalizes it for matching (R-CLI-2)
    and keeps the raw value. ``address`` is only used where ``PlatformRules.buyer_address_kept``.
    ``country`` is the order's shipping or billing country as ISO 3166 alpha-2 ("UA"), "" when
    the order names none: a phone without a country code is read there (R-CLI-5); anything
    but two letters becomes "". The constructor also accepts None for any field;
    ``RemoteBuyer.of`` returns None when the platform gave nothing at all (a country alone is
    not a buyer).
    """

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    country: str = ""

    def __post_init__(self) -> None:
        _clean_str_fields(self)
        code = self.country.upper()
        object.__setattr__(self, "country", code if re.fullmatch(r"[A-Z]{2}", code) else "")

    @classmethod
    def of(cls, **values: Any) -> RemoteBuyer | None:
        """A buyer from possibly-None values; None when every field is empty (data withheld)."""
        buyer = cls(**values)
        return None if not any(getattr(buyer, f.name) for f in fields(cls) if f.name != "country") else buyer

    @property
    def has_contact(self) -> bool:
        """True when there is a phone or an e-mail to find or reach the client by (R-IMP-5)."""
        return bool(self.phone or self.email)

    @classmethod
    @abstractmethod
    def preview(cls, payload: Any, options: Mapping[str, str] | None = None) -> list[RemoteOrder]:
        """The normalized orders in a saved API response (a list envelope or one order),
        without any HTTP: for integrators debugging a payload (`flask platforms preview`)."""

    def __repr__(self) -> str:
        # Buyers are personal data: a repr ends up in logs, so say only what is present.
        present = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"RemoteBuyer(present={present})"


def _path(names: Iterable[Any]) -> tuple[str, ...]:
    return tuple(name for name in map(clean_text, names) if name)


@dataclass(frozen=True, kw_only=True)
class RemoteItem:
    """One order line (R-ORD-6, R-PRD-1..7).

    ``sku`` is the platform's article / SKU (Cartum ``article``, Shopify/WooCommerce ``sku``);
    ``product_id`` is the platform's product id ("" when the platform has none, as Cartum
    order lines); where each lands in our Product is stated by ``PlatformRules.sku_field`` and
    ``code_field`` (R-PRD-3).

    Categories: ``category_path`` is one path from the root, e.g. ("Clothing", "Hoodies").
    ``categories`` lists *every* category the product is in, each as a path from the root;
    WooCommerce products may be in several, and ``sync/`` picks one by R-PRD-6 when
    ``PlatformRules.category_choice == "woocommerce_tree"``. When only ``category_path`` is
    given, ``categories`` is filled with it, so ``categories`` can always be read.
    """

    line_id: str
    product_id: str
    sku: str
    name: str
    description: str = ""
    category_path: tuple[str, ...] = ()
    quantity: Decimal
    price: Decimal
    categories: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        _clean_str_fields(self)
        object.__setattr__(self, "quantity", money(self.quantity))
        object.__setattr__(self, "price", money(self.price))
        object.__setattr__(self, "category_path", _path(self.category_path))
        paths = tuple(p for p in map(_path, self.categories) if p)
        if not paths and self.category_path:
            paths = (self.category_path,)
        object.__setattr__(self, "categories", paths)

    @property
    def line_total(self) -> Decimal:
        return self.quantity * self.price


@dataclass(frozen=True, kw_only=True)
class RemoteDelivery:
    """Delivery details for the event-feed comment (R-DEL-1..3).

    ``cost`` None means the platform has not calculated it (Cartum sends -1 for that; the
    adapter must turn it into None). ``is_own_method`` is True when the shop uses its own
    delivery method rather than a carrier built into the platform (R-DEL-3).
    """

    method_name: str
    cost: Decimal | None
    recipient_address: str
    is_own_method: bool

    def __post_init__(self) -> None:
        _clean_str_fields(self)
        cost = money_or_none(self.cost)
        if cost is not None and cost < 0:
            raise ValueError("Delivery cost is negative; pass None when it is not calculated.")
        object.__setattr__(self, "cost", cost)

    @property
    def is_delivery(self) -> bool:
        """R-DEL-1: a method or a cost says a delivery was chosen; an address alone is only where
        the buyer lives (a Shopify order without a shipping line), with no delivery to describe."""
        return bool(self.method_name) or self.cost is not None


def _require_aware(name: str, moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware; use parse_platform_time().")
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True, kw_only=True)
class RemoteOrder:
    """One platform order, normalized (R-ORD-4, R-ORD-6).

    ``external_id`` is the platform's order id (the binding key with our store id,
    R-IMP-7); ``number`` is what the shop shows its staff (Shopify "#1001", Cartum order
    number). Times are aware UTC; naive ones are refused. ``status_id`` is a
    ``RemoteStatus.id``. ``buyer`` None means the platform gave no buyer or withheld it
    (Shopify Basic plan, R-CLI-3). ``raw`` is the platform JSON, for debugging only; it is
    left out of equality and repr (it holds personal data).
    """

    external_id: str
    number: str
    created_at: datetime
    updated_at: datetime
    status_id: str
    currency: str
    buyer: RemoteBuyer | None = field(default=None, repr=False)
    items: tuple[RemoteItem, ...] = ()
    delivery: RemoteDelivery | None = field(default=None, repr=False)
    # The shop's own order total (delivery, fees, discounts, taxes as the platform counts them),
    # to the cent; None when it gives none. Shown beside ``total`` when they differ (R-REL-4).
    platform_total: Decimal | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _clean_str_fields(self)
        if not self.external_id:
            raise ValueError("RemoteOrder needs an external_id.")
        object.__setattr__(self, "currency", self.currency.upper())
        object.__setattr__(self, "created_at", _require_aware("created_at", self.created_at))
        object.__setattr__(self, "updated_at", _require_aware("updated_at", self.updated_at))
        object.__setattr__(self, "items", tuple(self.items))

    @property
    def total(self) -> Decimal:
        """Order amount = sum of the lines' quantity x price, to the cent (R-ORD-6)."""
        return sum((item.line_total for item in self.items), ZERO).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class OrdersPage:
    """One page of ``Platform.iter_orders``.

    ``checkpoint`` is an opaque string: store it with the page's orders (in the same
    commit), and pass it back as ``iter_orders(..., resume_from=checkpoint)`` to continue
    *after* this page, e.g. when a worker was killed mid-import. It is None on the last page.
    """

    orders: tuple[RemoteOrder, ...]
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "orders", tuple(self.orders))


@dataclass(frozen=True, kw_only=True)
class WebhookEvent:
    """One webhook delivery, verified (R-HOOK-1..3), as ``Platform.read_webhook`` reads it.

    ``order_ids`` are the orders it names (usually one; none for a topic about something else);
    ``delivery_id`` the platform's own id of this delivery ("" where it sends none: Cartum);
    ``changed_at`` what the body says of the order's state (its modification time, else a
    digest of the body), which with the topic and the order identifies a delivery without an id.
    ``ping`` is WooCommerce's unsigned test call when a webhook is created: answered, not used.
    """

    topic: str = ""
    order_ids: tuple[str, ...] = ()
    delivery_id: str = ""
    changed_at: str = ""
    ping: bool = False


@dataclass(frozen=True)
class RemoteWebhook:
    """A webhook subscription on the shop (R-HOOK-4): its id there, topic and address;
    ``active`` False when the shop stopped delivering (WooCommerce disables one that failed)."""

    id: str
    topic: str
    address: str
    active: bool = True


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class PlatformError(Exception):
    """Something went wrong talking to a shop.

    ``message`` is for an employee: what went wrong and what to do. It never contains
    credentials, tokens or request bodies. ``code`` is stable, for logs and the sync log;
    ``retryable`` says whether trying again later may succeed without anyone acting.
    """

    code: ClassVar[str] = "platform_error"
    retryable: bool = False
    default_message: ClassVar[str] = (
        "The shop's platform answered in a way we did not expect. Try again later; "
        "if it keeps happening, check the store's settings.")

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class AuthFailed(PlatformError):
    """The platform refused the credentials (wrong password, revoked token or key)."""

    code = "auth_failed"
    default_message = ("The shop refused the login or key. Check the credentials on the "
                       "platform and edit the store.")


class ApiNotAvailable(PlatformError):
    """The shop has no API access, e.g. a Cartum plan without the API module (R-CON-4)."""

    code = "api_not_available"
    default_message = ("This shop does not offer API access (its plan may not include it). "
                       "Enable the API or upgrade the plan on the platform, then connect again.")


class RateLimited(PlatformError):
    """The shop asked us to slow down; ``retry_after`` seconds until it accepts requests."""

    code = "rate_limited"
    retryable = True

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(message or (
            f"The shop asked us to slow down for {self.retry_after:.0f} s. Nothing to do: "
            "the sync continues by itself."))


class Unreachable(PlatformError):
    """No usable answer: connection refused, DNS failure, timeout, or 5xx after retries."""

    code = "unreachable"
    retryable = True

    def __init__(self, message: str | None = None, *, host: str = "", reason: str = "") -> None:
        self.host = host
        self.reason = reason
        where = host or "the shop"
        why = f" ({reason})" if reason else ""
        super().__init__(message or (
            f"Could not reach {where}{why}. Check that the store's Website URL is right and "
            "that the shop is online; the sync tries again by itself."))


class BadPayload(PlatformError):
    """The answer was not the platform's API data (malformed JSON, or an HTML page)."""

    code = "bad_payload"
    default_message = ("The shop answered with something that is not its API's data (for "
                       "example a web page). Check the Website URL and that the platform's "
                       "API is enabled for this shop.")


class TruncatedPayload(BadPayload):
    """The answer claimed to be JSON but was cut off or mangled on the way, on every attempt.

    A transient fault (R-REL-2): ``PlatformHttp`` asks again within the run like after a 5xx,
    and a later sync tries again by itself. Not the store's settings: an HTML page or a bot
    check stays a plain ``BadPayload``."""

    code = "truncated_payload"
    retryable = True

    def __init__(self, message: str | None = None, *, host: str = "", status: int = 200) -> None:
        super().__init__(message or (
            f"{host or 'The shop'}'s answer was cut off or is not valid JSON (HTTP {status}). Nothing "
            "to do: the sync tries again by itself. If this keeps happening for hours, ask the "
            "shop's host whether its server or a proxy in front of it cuts answers short."))


class RepeatedPage(BadPayload):
    """The shop kept serving a page it had already sent when asked for another one (a cache or
    proxy in front of it answering with stale pages); see ``paging.PageGuard``. The run stops
    rather than move on and skip the page it never got (R-REL-2)."""

    code = "repeated_page"
    retryable = True


class NotFound(PlatformError):
    """The order (or other object) does not exist on the platform (any more)."""

    code = "not_found"
    default_message = ("The shop says this order does not exist; it may have been deleted "
                       "there. Nothing to do unless you expected it.")


class Rejected(PlatformError):
    """The platform refused a change we sent (e.g. a status it does not accept)."""

    code = "rejected"
    default_message = ("The shop refused the change. Check the store's status mapping and "
                       "the order on the platform.")


class NotEncrypted(PlatformError):
    """R-SEC-1: the store's address starts with http://, and this platform would send its
    password or token there in clear. Nothing was sent; the message says to use https."""

    code = "not_encrypted"
    default_message = ("This address starts with http://, so the shop's password or token would "
                       "travel unencrypted. Change the store's Website URL to the shop's https:// address.")


class WebhookRefused(PlatformError):
    """R-HOOK-2: a webhook whose signature is missing or wrong for its store; nothing is done
    with it. The message says what to check (never the signature or the key)."""

    code = "webhook_refused"
    default_message = ("A webhook with a wrong signature was refused. If the shop's key or secret was "
                       "changed, edit the store and enter the new one.")


class StoreMoved(PlatformError):
    """The store's address redirects elsewhere (http to https, a new domain)."""

    code = "store_moved"

    def __init__(self, location: str, message: str | None = None) -> None:
        self.location = location
        super().__init__(message or (
            f"The shop's address now redirects to {location}. Edit the store and set its "
            "Website URL to the new address."))


# ---------------------------------------------------------------------------------------------
# Platform rules: every difference between the platforms, as data
# ---------------------------------------------------------------------------------------------

IDENTIFY_BY_CHOICES = ("name", "article", "sku", "id")
CLIENT_MATCH_CHOICES = ("phone", "email")
CATEGORY_CHOICES = ("single", "woocommerce_tree")
PRODUCT_CODE_FIELDS = ("sku", "code", "item_number")

# identify-by option -> the RemoteItem attribute that carries its value (R-PRD-2).
_IDENTIFY_ATTR = {"name": "name", "article": "sku", "sku": "sku", "id": "product_id"}


@dataclass(frozen=True)
class CredentialField:
    """One credential input of the wizard's step 1 (R-CON-3); ``secret`` ones are masked (R-CON-8)."""

    name: str
    label: str
    secret: bool
    help: str = ""


@dataclass(frozen=True, kw_only=True)
class PlatformRules:
    """Everything that differs between platforms, read by the platform-agnostic ``sync/``.

    Each adapter declares one value as ``RULES``. Every field is required, so a new
    platform has to state every difference; ``__post_init__`` rejects inconsistent values.
    """

    excluded_initial_statuses: frozenset[str]
    """R-IMP-2: platform status ids the initial import skips (Cartum {"3"} Delivered;
    Shopify the adapter's derived ids for fulfilled/canceled/refunded; WooCommerce
    completed, cancelled, refunded, failed, trash)."""

    statuses_in: bool
    """R-STA-2: platform status changes are applied to our orders through the mapping."""

    statuses_out: bool
    """R-STA-1/3/4: our status changes are pushed to the platform (Shopify: never)."""

    completed_needs_write_off: frozenset[str]
    """R-STA-3: platform status ids not pushed while the order's products are not written
    off (WooCommerce {"completed"}); empty elsewhere."""

    needs_status_mapping: bool
    """R-CON-5: the wizard's step 2 (platform status -> ours) is required."""

    initial_status_from_order_type: bool
    """R-IMP-6: a new order's status is the order type's initial one, not the mapping (Shopify)."""

    tracks_updates: bool
    """DESIGN "Incremental sync": True if ``iter_orders(updated_since=...)`` returns the
    orders *changed* since then. False (Cartum: no modified-since filter) means the importer
    must also re-read its open orders with ``fetch_orders`` to see status/quantity changes."""

    delivery_transferred: bool
    """R-DEL-1/4: delivery details become event-feed comments (WooCommerce: no)."""

    delivery_only_own_method: bool
    """R-DEL-3: comment only when ``RemoteDelivery.is_own_method`` (Cartum)."""

    identify_by: tuple[str, ...]
    """R-PRD-2: the wizard's "Identify products by" options, first = default; from
    "name", "article", "sku", "id" (Cartum: name, article; others: name, sku, id)."""

    catalog_needs_sku: bool
    """R-PRD-1: only lines with an article/SKU become catalogue products (Cartum: "products
    with a unique code"); other lines are still added to the order, without a product."""

    sku_field: str
    """R-PRD-3: our Product field that receives ``RemoteItem.sku``
    (Cartum "item_number"; Shopify/WooCommerce "sku")."""

    code_field: str | None
    """R-PRD-3: our Product field that receives ``RemoteItem.product_id``
    (Shopify/WooCommerce "code"; Cartum None, its lines carry no product id)."""

    category_choice: str
    """R-PRD-6: "single" uses ``RemoteItem.category_path``; "woocommerce_tree" chooses among
    ``RemoteItem.categories`` (one chain: deepest; same level: alphabetically first;
    different levels: the more general)."""

    language_choice: bool
    """R-CON-2/R-PRD-8: the wizard asks for the language of product names (Cartum);
    the adapter reads it from ``options["language"]``."""

    client_match_keys: tuple[str, ...]
    """R-CLI-2: contact fields an existing client is found by, in order ("phone"; WooCommerce
    "phone", "email")."""

    times_without_offset: bool
    """R-IMP-8: the platform writes its times without a UTC offset (Cartum's ``stat_created``),
    so they are read in the shop's time zone: the wizard asks for it (``Store.timezone``) and the
    adapter reads ``options["timezone"]``. False where times carry their offset (Shopify;
    WooCommerce's ``*_gmt`` fields): the wizard asks nothing."""

    default_timezone: str
    """R-IMP-8: the zone such times are read in when the store names none, preselected in the
    wizard (Cartum: "Europe/Kyiv", where its shops are); never the back office's TIMEZONE.
    "" where ``times_without_offset`` is False."""

    buyer_address_kept: bool
    """R-CLI-3: the buyer's address is saved on the client (Shopify)."""

    skip_without_items: bool
    """R-IMP-5: an order without lines is not imported (WooCommerce)."""

    skip_without_contact: bool
    """R-IMP-5/R-CLI-4: an order whose buyer is missing or has neither phone nor e-mail is
    not imported (WooCommerce). Elsewhere a missing buyer gives the client "Not specified"
    (R-CLI-3)."""

    credential_fields: tuple[CredentialField, ...]
    """R-CON-3: the credential inputs of the wizard's step 1, in order; their ``name`` is
    the key in ``Platform(credentials=...)``."""

    url_help: str
    """R-CON-2: help text under "Website URL" (e.g. Shopify: the my-shop.myshopify.com domain)."""

    plain_http_ok: bool = False
    """R-SEC-1: the shop may be reached over plain http because no secret travels in clear
    there (WooCommerce signs each request with OAuth 1.0a; the consumer secret never leaves us).
    Elsewhere an http:// address is refused (``NotEncrypted``) unless
    ALLOW_PRIVATE_SHOP_ADDRESSES is on. The one field with a default: the safe one."""

    default_country: str = ""
    """R-CLI-5: the store's country (ISO 3166 alpha-2) a new store of this platform gets, which
    reads the phones its orders give without a country code and without a country of their own
    (Cartum "UA": its shops sell in Ukraine and its orders name no country). "" leaves it to the
    shop (``Platform.shop_country``) or the user, else the back office's PHONE_REGION."""

    def __post_init__(self) -> None:
        self._check_choices("identify_by", self.identify_by, IDENTIFY_BY_CHOICES)
        self._check_choices("client_match_keys", self.client_match_keys, CLIENT_MATCH_CHOICES)
        self._check_choices("category_choice", (self.category_choice,), CATEGORY_CHOICES)
        self._check_choices("sku_field", (self.sku_field,), PRODUCT_CODE_FIELDS)
        if self.code_field is not None:
            self._check_choices("code_field", (self.code_field,), PRODUCT_CODE_FIELDS)
        if "id" in self.identify_by and self.code_field is None:
            raise ValueError("identify_by offers 'id' but code_field is None.")
        if self.completed_needs_write_off and not self.statuses_out:
            raise ValueError("completed_needs_write_off only makes sense with statuses_out.")
        if self.delivery_only_own_method and not self.delivery_transferred:
            raise ValueError("delivery_only_own_method needs delivery_transferred.")
        if self.times_without_offset != bool(self.default_timezone):
            raise ValueError("times_without_offset needs a default_timezone, and only it has one.")
        if self.default_timezone:
            _zone(self.default_timezone)

    @staticmethod
    def _check_choices(name: str, values: Sequence[str], allowed: Sequence[str]) -> None:
        unknown = [value for value in values if value not in allowed]
        if unknown or not values:
            raise ValueError(f"PlatformRules.{name}: {unknown or 'empty'} not in {allowed}.")

    def match_fields(self, identify_by: str) -> tuple[str, str]:
        """For an "Identify products by" choice: (RemoteItem attribute, our Product field).

        E.g. Cartum "article" -> ("sku", "item_number"); Shopify "id" -> ("product_id", "code").
        """
        if identify_by not in self.identify_by:
            raise ValueError(f"This platform cannot identify products by {identify_by!r}.")
        attr = _IDENTIFY_ATTR[identify_by]
        target = {"name": "name", "sku": self.sku_field, "product_id": self.code_field}[attr]
        return attr, str(target)


# ---------------------------------------------------------------------------------------------
# The adapter interface
# ---------------------------------------------------------------------------------------------


class Catalogue(Protocol):
    """What the back office's catalogue already holds, asked by an adapter before it asks the
    shop for product details, so that a sync reads only the products it does not know.

    ``sync/`` hands the run's adapter one (``Platform.catalogue``); the adapter never sees the
    database. Without one (the wizard, previews, contract tests) an adapter reads every
    product its orders name, as it always did. Both methods may be called from a thread
    other than the one that writes (a page read ahead), and see only what is committed.
    """

    def known(self, items: Sequence[RemoteItem]) -> list[bool]:
        """For each line, as mapped without product details: True when the back office has
        the product the line will be matched to (R-PRD-2, by the store's "Identify products
        by"), or when the line makes no catalogue product; its details need not be read."""

    def names(self, codes: Collection[str]) -> dict[str, str]:
        """Our products' names by the platform's product code (``RULES.sku_field``: Cartum's
        article), for the codes we have a product of; codes we lack are left out."""


class Platform(ABC):
    """One shop on one platform. Subclasses live in ``platforms/<name>/__init__.py``.

    Class attributes: ``name`` (registry key, e.g. "cartum"), ``title`` (shown to users),
    ``RULES`` (its ``PlatformRules``), ``RATE`` (the request budget per shop, in ``limits``
    notation such as "2/second"; shared by every worker process through Redis).

    ``url`` is normalized with ``normalize_store_url``. ``credentials`` is keyed by
    ``RULES.credential_fields`` names. ``options`` holds e.g. "language", "timezone",
    "api_version". ``budget_key`` names the shared request budget; by default it is the
    shop's origin, so every store pointing at one shop shares one budget.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    RULES: ClassVar[PlatformRules]
    RATE: ClassVar[str] = "2/second"
    PLAIN_HTTP_REFUSAL: ClassVar[str] = NotEncrypted.default_message
    """R-SEC-1: what to say when an http:// address would carry this platform's secret."""
    fetch_batch: int = 100
    """How many orders one request of ``fetch_orders`` carries: ``sync/`` re-reads in batches
    of this size, so that each batch is one request and one commit."""
    catalogue: Catalogue | None = None
    """What the back office already has (``Catalogue``); None: read every product named."""

    def __init__(self, url: str, credentials: Mapping[str, str], options: Mapping[str, str],
                 http: PlatformHttp, *, budget_key: str | None = None) -> None:
        self.url = normalize_store_url(url)
        self.credentials = dict(credentials)
        self.options = dict(options)
        self.http = http
        self.budget_key = budget_key or f"shop:{origin(self.url)}"

    def __repr__(self) -> str:
        # Never show credentials: adapters end up in log lines and tracebacks.
        return f"<{type(self).__name__} {self.url}>"

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send through the shared HTTP layer with this shop's budget (see ``PlatformHttp``).

        R-SEC-1: over plain http only where ``RULES.plain_http_ok`` (or for the demo's and the
        tests' simulators, ALLOW_PRIVATE_SHOP_ADDRESSES); otherwise NotEncrypted, nothing sent."""
        if (urlsplit(url).scheme == "http" and not self.RULES.plain_http_ok
                and not self.http.addresses.allow_private):
            raise NotEncrypted(self.PLAIN_HTTP_REFUSAL)
        return self.http.request(method, url, budget_key=self.budget_key, rate=self.RATE, **kwargs)

    @abstractmethod
    def verify(self) -> None:
        """Check URL and credentials live (R-CON-4); raise AuthFailed, ApiNotAvailable, etc."""

    def shop_country(self) -> str:
        """R-CLI-5: the shop's own country (ISO 3166 alpha-2) when the platform says it in one
        cheap call, for the store's default; "" when it does not. Called after ``verify``; never
        raises (a shop that will not say is no reason to refuse the store)."""
        return ""

    @abstractmethod
    def statuses(self) -> list[RemoteStatus]:
        """The platform's order statuses, read live (R-CON-5). May be [] without a mapping."""

    @abstractmethod
    def iter_orders(self, created_since: datetime | None = None,
                    updated_since: datetime | None = None,
                    resume_from: str | None = None) -> Iterator[OrdersPage]:
        """Pages of orders created (or, with ``updated_since``, changed) at or after the time.

        Both None means every order the platform gives. ``resume_from`` is a checkpoint of
        an earlier page: continue after it, with the filters that run started with. An
        order may appear twice (on a page boundary); ``sync/`` deduplicates by external id.
        """

    def count_orders(self, created_since: datetime) -> int | None:
        """How many orders ``iter_orders(created_since=...)`` will give, when the platform says
        so in one cheap call (the import's progress bar and time estimate); None when it
        cannot. Only an estimate: orders keep arriving while an import runs."""
        return None

    @abstractmethod
    def fetch_orders(self, external_ids: Sequence[str]) -> list[RemoteOrder]:
        """These orders, re-read (manual update, R-ORD-3/4); missing ones are left out."""

    @abstractmethod
    def push_status(self, external_id: str, platform_status_id: str) -> None:
        """Set the order's status on the platform (R-STA-1/3). Only called when
        ``RULES.statuses_out``; raises NotFound, Rejected, AuthFailed, ..."""

    @abstractmethod
    def order_url(self, external_id: str) -> str:
        """The order's page in the shop's admin."""

    @abstractmethod
    def orders_url(self) -> str:
        """The shop admin's order list (the Store column links there, R-ORD-2)."""

    # --- webhooks (R-HOOK-1..4) -------------------------------------------------------------
    #
    # ``sync/webhooks.py`` registers ``WEBHOOK_TOPICS`` at the store's address (list first, keep
    # ours that deliver there, replace ours that deliver elsewhere or no longer deliver) and
    # removes them when the store is deleted; the receiving view reads deliveries with
    # ``read_webhook``. A platform without webhooks keeps the defaults: ``webhooks_unavailable``
    # says so and the store is polled.

    WEBHOOK_TOPICS: ClassVar[tuple[str, ...]] = ()
    """The order topics subscribed to, in the platform's names."""
    WEBHOOK_OWN_SECRET: ClassVar[bool] = False
    """The subscription takes a signing secret we choose (WooCommerce): one per store is made."""
    WEBHOOK_NOTE: ClassVar[str] = ""
    """What the store page adds about this platform's webhooks (Cartum: only on its Pro plan)."""

    @classmethod
    def webhook_key(cls, credentials: Mapping[str, str], hook_secret: str) -> str:
        """The key this store's deliveries are signed with: the app's secret (Shopify), the
        secret we gave the subscription (WooCommerce, ``hook_secret``), "" for none (Cartum)."""
        return hook_secret

    @classmethod
    def webhooks_unavailable(cls, credentials: Mapping[str, str]) -> str | None:
        """Why this store cannot have webhooks, for the store page ("edit the store and enter
        ..."); None when it can."""
        return None if cls.WEBHOOK_TOPICS else "This platform sends no webhooks."

    @classmethod
    def read_webhook(cls, headers: Mapping[str, str], body: bytes, key: str) -> WebhookEvent:
        """A delivery verified with ``key`` (``webhook_key``) and read: its topic, the orders it
        names and its delivery id. Raises WebhookRefused when it is not signed with the key.
        ``headers`` is case-insensitive (werkzeug's), as HTTP header names are."""
        raise WebhookRefused("This platform sends no webhooks.")

    def list_webhooks(self) -> list[RemoteWebhook] | None:
        """The shop's webhook subscriptions (every one the credentials may see); None where the
        platform cannot list them (Cartum): ours are then known only by the ids we kept."""
        raise NotImplementedError

    def create_webhook(self, topic: str, address: str, secret: str) -> str:
        """Subscribe ``address`` to ``topic`` (signed with ``secret`` where the platform takes
        one); the subscription's id on the shop."""
        raise NotImplementedError

    def delete_webhook(self, webhook_id: str, address: str) -> None:
        """Remove one subscription; one already gone is no error."""
        raise NotImplementedError
