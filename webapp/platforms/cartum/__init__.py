"""The Cartum adapter (Cartum is Horoshop's international brand: same engine, same API).

Role in ``platforms/``: ``CartumPlatform`` runs the flows ``sync/`` asks for (verify,
statuses, pages of orders, re-reads, status push) over ``client.CartumClient`` (HTTP,
token, envelope) and ``mapping`` (JSON -> records). Facts: ``shared/platforms/cartum.md``.

Options (``Platform(options=...)``):

* ``timezone`` - the store's IANA zone; ``stat_created`` and the ``from``/``to`` filters
  carry no offset and are read and written in it. Default "Europe/Kyiv".
* ``language`` - Cartum language key ("en", "ro", "ua", ...) for product names,
  descriptions and categories (R-PRD-8) and for status names. Default: none, i.e.
  English where the store has it, else the store's first language.
* ``page_size`` - orders per page of ``orders/get`` by date, 1..500. Default: 100 for an
  initial import (``created_since``: a page is its unit of progress and of resumption), and
  500, the most one call is known to give (fact sheet A.3), for a sync's look for new orders
  (``updated_since``). Set, it is used for both (the fault bench pages by 6). Orders re-read
  by number are always asked for 500 a call (``fetch_batch``).

**Finding changes without a "modified since" filter.** ``orders/get`` filters by creation
date only, and orders carry no modification time (``RULES.tracks_updates`` is False). So a
sync is two reads: new orders by date (``iter_orders(updated_since=last run - overlap)``,
read as "created since": it cannot do better) and open orders by number
(``fetch_orders(ids)``, ``fetch_batch`` = 500 numbers per call), compared by ``sync/`` with
what it has. No filter narrows the re-read: ``status`` would hide exactly the orders that
left the open statuses, which are changes to see. ``sync/`` re-reads the open orders in
rotation, a bounded number of calls per sync (``jobs.REREAD_REQUESTS``). Cost of one sync,
with N orders placed in its window (the last run's start less the overlap and ZONE_SLACK),
R re-read calls and A articles on the orders read that the back office has no product of
(``Platform.catalogue``; without one, every article on them)::

    1 auth (a token lives 600 s; a new adapter signs in once)
    + ceil((N + 1) / 500)   new orders, the last page being short or empty
    + R                     open orders re-read by number, 500 a call
    + ceil(A / 500)         catalog/export for names, descriptions and categories, per page

Articles we have a product of take their name from it (``Catalogue.names``), so an article
is exported once, when an order first names it; each is exported at most once per adapter.

Paging: ``limit``/``offset`` over a window whose upper bound (``to``) is fixed when the
run starts, so orders placed during a long import do not shift the pages; they are the
next run's. The checkpoint string holds the window and the offset reached. Every page passes
``paging.PageGuard``: a page served again (a cache, or a shop ignoring ``offset``) is asked
for again and then stops the run; a page shifted by one (an order inserted before the offset
during the run) is offset paging's normal overlap, accepted (R-REL-2).

Every call is a POST to one path, so a cache ignoring the body answers with an earlier
call's answer (the previous run's last page, a re-read by ids). The guard therefore also
checks that an answer belongs to its query: a page's ``stat_created`` dates lie in the
window's days, a re-read's ``order_id`` are among those asked for. Days, not seconds:
both are the shop's local strings (no zone involved), and a shop older than v3.30 reads
only the date part of ``from``/``to``. An order without a readable date is not judged.
A re-read is also checked for completeness (``_by_number``): Cartum gives every order asked
for that it has, so an answer lacking some is checked before they are taken for gone. A page
by date carries no total or offset to check beyond that; a replayed EMPTY page or one whose
orders also fall in this window cannot be told from a true one.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webapp.platforms.base import (
    BadPayload, CredentialField, NotFound, OrdersPage, Platform, PlatformError, PlatformRules,
    Rejected, RemoteOrder, RepeatedPage, RemoteStatus, WebhookEvent, clean_text, json_object, origin,
    parse_platform_time, unwrap_orders,
)
from webapp.platforms.cartum import mapping
from webapp.platforms.cartum.client import CartumClient, Envelope, FunctionUnavailable
from webapp.platforms.paging import Belongs, PageGuard, among, within

if TYPE_CHECKING:
    from webapp.platforms.http import PlatformHttp

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
"""The catalog export is documented as capped at 500 per call; orders are paged no larger."""
CATALOG_BATCH = MAX_PAGE_SIZE
"""Articles per ``catalog/export`` call: the documented maximum, so that a page's new articles
take one call (only the fields we use are asked for, ``CATALOG_FIELDS``)."""
FIRST_PAGE_SIZE = 100
"""Orders per page of an initial import, unless ``page_size`` says otherwise (module docstring)."""
MAX_PAGES = 10_000
"""Bound on one iteration: 5 million orders at the largest page size."""
CATALOG_FIELDS = ["article", "title", "description", "short_description", "parent"]
_TIME = "%Y-%m-%d %H:%M:%S"
ZONE_SLACK = timedelta(hours=14)
"""Cartum's times are local strings without an offset, in the shop's zone, which we only
know as the store's setting (else Europe/Kyiv, R-IMP-8). With a wrong zone, a window of exact
bounds would skip the newest orders (shop east of us: they look later than "now") or the
oldest (shop west of us) for good (pitfalls #3). The largest UTC offset on either side
costs some orders read twice per sync, which the importer deduplicates."""

RULES = PlatformRules(
    excluded_initial_statuses=frozenset({mapping.DELIVERED}),
    statuses_in=True,
    statuses_out=True,
    completed_needs_write_off=frozenset(),
    needs_status_mapping=True,
    initial_status_from_order_type=False,
    tracks_updates=False,
    delivery_transferred=True,
    delivery_only_own_method=True,
    identify_by=("name", "article"),
    catalog_needs_sku=True,
    sku_field="item_number",
    code_field=None,
    category_choice="single",
    language_choice=True,
    client_match_keys=("phone",),
    times_without_offset=True,  # R-IMP-8: stat_created and the from/to filters are local
    default_timezone=mapping.DEFAULT_TIMEZONE,
    buyer_address_kept=False,
    skip_without_items=False,
    skip_without_contact=False,
    credential_fields=(
        CredentialField("login", "Login", secret=False,
                        help="The username from the shop's Settings > Administrators, not the "
                             "e-mail. A separate user with the manager role keeps the "
                             "integration working when the owner's password changes."),
        CredentialField("password", "Password", secret=True,
                        help="That administrator's password."),
    ),
    url_help="The shop's address, e.g. https://myshop.com; the API lives on the same domain.",
    default_country=mapping.DEFAULT_COUNTRY,  # R-CLI-5: its orders name no country
)


class CartumPlatform(Platform):
    """One Cartum shop. See the module docstring for options, paging and the cost of a sync."""

    name = "cartum"
    title = "Cartum"
    RULES = RULES
    WEBHOOK_TOPICS = ("order_created", "order_update")
    WEBHOOK_NOTE = ("Cartum sends webhooks only on its Pro plan, in batches about every 5 minutes; on other plans "
                    "nothing arrives and the poll brings the changes.")
    PLAIN_HTTP_REFUSAL = (
        "This address starts with http://, so the Cartum administrator's password (and the session "
        "token that follows it) would travel unencrypted. Change the store's Website URL to the shop's "
        "https:// address; Cartum shops have one.")
    RATE = "2/second"
    """Cartum publishes no request limit (fact sheet: none stated); two a second keeps an
    initial import polite to a hosted shop and is the shared budget's default."""

    @classmethod
    def preview(cls, payload: Any, options: Mapping[str, str] | None = None) -> list[RemoteOrder]:
        options = options or {}
        zone = options.get("timezone") or mapping.DEFAULT_TIMEZONE
        response = payload.get("response", payload) if isinstance(payload, Mapping) else payload
        return [mapping.order(raw, zone=zone, language=options.get("language", ""))
                for raw in unwrap_orders(response, "orders", "order")]

    def __init__(self, url: str, credentials: Mapping[str, str], options: Mapping[str, str],
                 http: PlatformHttp, *, budget_key: str | None = None) -> None:
        super().__init__(url, credentials, options, http, budget_key=budget_key)
        self.timezone = clean_text(self.options.get("timezone")) or mapping.DEFAULT_TIMEZONE
        self._zone = _zone(self.timezone)
        self.language = clean_text(self.options.get("language")).lower()
        chosen = clean_text(self.options.get("page_size"))
        self.page_size = _page_size(chosen or FIRST_PAGE_SIZE)
        self.changes_page_size = _page_size(chosen or MAX_PAGE_SIZE)  # a sync's pages of new orders
        self.fetch_batch = _page_size(MAX_PAGE_SIZE)  # orders re-read by number, per call
        self.client = CartumClient(self.url, self.credentials.get("login", ""),
                                   self.credentials.get("password", ""), self.request)
        self._catalog: dict[str, mapping.CatalogEntry | None] = {}

    # --- connection and statuses ------------------------------------------------------------

    def verify(self) -> None:
        """R-CON-4: sign in afresh, then read one order to prove the user may read orders."""
        self.client.authenticate()
        self.client.call("orders/get", {"limit": 1, "offset": 0})

    def statuses(self) -> list[RemoteStatus]:
        """R-CON-5: the store's statuses (custom ones included), names in ``language``.

        Stores older than v4.0 answer UNDEFINED_FUNCTION: they have only the built-in five.
        """
        try:
            answer = self.client.call("orders/get_available_statuses")
        except FunctionUnavailable:
            return list(mapping.BUILT_IN_STATUSES)
        return mapping.statuses(answer.response, self.language) or list(mapping.BUILT_IN_STATUSES)

    # --- reading orders ---------------------------------------------------------------------

    def iter_orders(self, created_since: datetime | None = None,
                    updated_since: datetime | None = None,
                    resume_from: str | None = None) -> Iterator[OrdersPage]:
        """Pages of orders created at or after ``created_since`` (see the module docstring).

        ``updated_since`` is read as "created since" (Cartum cannot tell changed orders);
        when both are given the earlier one wins, so nothing asked for is left out. A look
        for changes alone (``updated_since``) is read in the largest pages: it is never
        resumed from a checkpoint.
        """
        cursor = _Cursor.load(resume_from) if resume_from else self._first_cursor(
            min((t for t in (created_since, updated_since) if t is not None), default=None))
        size = self.changes_page_size if created_since is None and updated_since is not None else self.page_size
        guard = self._guard(overlap_expected=True)
        for _ in range(MAX_PAGES):
            query = cursor.query(size)
            raw = guard.read(lambda: self._orders(query), lambda page: page, belongs=cursor.belongs())
            # A page longer than asked means the shop ignored 'limit' and sent everything.
            following = cursor.after(len(raw)) if len(raw) == size else None
            yield OrdersPage(self._map(raw, since=cursor.since), following.dump() if following else None)
            if following is None:
                return
            cursor = following
        raise PlatformError(f"The shop kept sending full pages after {MAX_PAGES} pages; the import "
                            "stopped to be safe. Contact support.")

    def _first_cursor(self, since: datetime | None) -> _Cursor:
        # Widened by ZONE_SLACK both ways: see there why a guessed zone must not lose orders.
        until = (datetime.now(timezone.utc) + ZONE_SLACK).astimezone(self._zone)
        since = since - ZONE_SLACK if since else None
        start = since.astimezone(self._zone).strftime(_TIME) if since else ""
        return _Cursor(start=start, end=until.strftime(_TIME), offset=0,
                       since=since.astimezone(timezone.utc).isoformat() if since else "")

    def fetch_orders(self, external_ids: Sequence[str]) -> list[RemoteOrder]:
        """These orders re-read by number (``orders/get`` with ``ids``), ``fetch_batch`` a call."""
        wanted = list(dict.fromkeys(clean_text(i) for i in external_ids if clean_text(i)))
        found: list[RemoteOrder] = []
        for start in range(0, len(wanted), self.fetch_batch):
            found.extend(self._map(self._by_number(wanted[start:start + self.fetch_batch])))
        return found

    def _by_number(self, batch: list[str]) -> list[Mapping[str, Any]]:
        """One batch by number, checked for completeness: Cartum gives every order asked for that
        it has, and we ask only for orders it gave us. A cache in front of the shop replaying an
        earlier answer passes ``among`` when that answer was EMPTY or held only orders asked for
        too; so an answer lacking orders is checked. Partial: the missing ones are asked for
        alone, and if the shop gives any, the first answer was not to this question and the batch
        is asked again (after ``attempts``, the run stops). EMPTY: asked again, and EMPTY every
        time means the shop has none of them any more. A real deletion costs a request or two."""
        attempts = max(1, self.http.settings.attempts)
        for attempt in range(1, attempts + 1):
            raw = self._numbers(batch)
            got = {clean_text(order.get("order_id")) for order in raw}
            missing = [number for number in batch if number not in got]
            if not missing or (raw and not self._numbers(missing)) or (not raw and attempt == attempts):
                return raw
            log.warning("cartum %s: an answer by number lacked orders (attempt %d of %d); asking again",
                        origin(self.url), attempt, attempts)
        raise RepeatedPage(
            f"The shop answered a request for orders by number with another request's orders, {attempts} times "
            "in a row. A cache or proxy in front of the shop is probably serving stale answers. The sync stopped "
            "here so that no change is missed; nothing is lost, and the next sync tries again by itself. If this "
            f"keeps happening, ask whoever runs the shop's website to exclude its API ({origin(self.url)}/api/) "
            "from caching.")

    def _numbers(self, batch: list[str]) -> list[Mapping[str, Any]]:
        query = {"ids": [_number(i) for i in batch], "limit": len(batch), "offset": 0}
        return self._guard().read(lambda: self._orders(query), lambda page: page, belongs=among(batch, "order_id"))

    def _guard(self, *, overlap_expected: bool = False) -> PageGuard:
        return PageGuard("orders", id_field="order_id", api=f"{origin(self.url)}/api/",
                         overlap_expected=overlap_expected, settings=self.http.settings)

    def _orders(self, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        answer = self.client.call("orders/get", query)
        if answer.status == "EMPTY":
            return []
        orders = answer.get("orders")
        if isinstance(orders, Mapping):
            orders = list(orders.values())
        if not isinstance(orders, list):
            raise BadPayload("The shop's order list came without orders; check the Website URL.")
        return [order for order in orders if isinstance(order, Mapping)]

    def _map(self, raw: list[Mapping[str, Any]], since: str = "") -> list[RemoteOrder]:
        catalog = self._look_up(mapping.line_articles(raw))
        floor = datetime.fromisoformat(since) if since else None
        result = []
        for entry in raw:
            try:
                order = mapping.order(entry, zone=self.timezone, language=self.language, catalog=catalog)
            except (TypeError, ValueError) as exc:
                # One broken order must not stop the store's sync (pitfalls #9); the number
                # and the reason are enough to find it, no personal data is logged.
                log.warning("cartum %s: order %s skipped: %s", origin(self.url),
                            clean_text(entry.get("order_id")) or "?", exc)
                continue
            if floor is None or order.created_at >= floor:  # a shop ignoring the time part
                result.append(order)
        return result

    def _look_up(self, articles: set[str]) -> dict[str, mapping.CatalogEntry | None]:
        """R-PRD-8: names, descriptions, categories by article, once per adapter instance.

        An article the back office has a product of takes that product's name (``catalogue``)
        and is not exported: the product keeps its description and category, and a line named
        as before is matched to it whichever way the store identifies products (R-PRD-2)."""
        missing = articles - self._catalog.keys()
        if missing and self.catalogue is not None:
            known = self.catalogue.names(missing)
            self._catalog.update({article: mapping.CatalogEntry(name=name, description="", category_path=())
                                  for article, name in known.items() if name})
            missing = articles - self._catalog.keys()
        missing = sorted(missing)
        for start in range(0, len(missing), CATALOG_BATCH):
            batch = missing[start:start + CATALOG_BATCH]
            found = self._export(batch)
            self._catalog.update({article: found.get(article) for article in batch})
        return {article: self._catalog.get(article) for article in articles}

    def _export(self, articles: list[str]) -> dict[str, mapping.CatalogEntry]:
        query = {"expr": {"article": articles}, "offset": 0, "limit": len(articles),
                 "includedParams": CATALOG_FIELDS}
        try:
            answer = self.client.call("catalog/export", query)
        except PlatformError as error:
            # The shop refused this look-up itself (UNDEFINED_FUNCTION on an old store, or an
            # ERROR for the query): products without descriptions beat orders not imported,
            # so the lines keep their own titles. Anything else (auth, HTML, 5xx) fails the page.
            if not isinstance(error, FunctionUnavailable) and (
                    type(error) is not PlatformError or error.retryable):
                raise
            log.warning("cartum %s: catalog/export refused (%s); lines keep their own titles",
                        origin(self.url), error.code)
            return {}
        return mapping.catalog_entries(answer.get("products") or (), self.language)

    # --- writing ----------------------------------------------------------------------------

    def push_status(self, external_id: str, platform_status_id: str) -> None:
        """R-STA-1: ``orders/update`` with this one order's new status.

        Sent once (``retry=False``): a repeated update could notify the buyer twice, and a
        repeated cancel fails because a cancelled order is read-only. When Cartum reports the
        record as failed, the order is re-read: already at that status is success, gone is
        NotFound, anything else is Rejected with the shop's reason.
        """
        change = {"order_id": _number(external_id), "status": _number(platform_status_id)}
        answer = self.client.call("orders/update", {"orders": [change]}, retry=False)
        failed, reason = _update_failed(answer, clean_text(external_id))
        if failed:
            self._confirm_status(clean_text(external_id), clean_text(platform_status_id), reason)

    def _confirm_status(self, external_id: str, status_id: str, reason: str) -> None:
        orders = self.fetch_orders([external_id])
        if not orders:
            raise NotFound(f"Cartum has no order {external_id} (any more); it may have been deleted there.")
        if orders[0].status_id == status_id:
            return
        raise Rejected(f"Cartum refused to set status {status_id} on order {external_id}"
                       f"{f' ({reason})' if reason else ''}. Check the store's status mapping and "
                       "the order in the shop; cancelled orders cannot be changed there.")

    # --- webhooks (fact sheet A.7) ---------------------------------------------------------

    @classmethod
    def read_webhook(cls, headers: Mapping[str, str], body: bytes, key: str) -> WebhookEvent:
        """Cartum signs nothing: the store's unguessable token in the delivery address is the
        only proof that a delivery comes from its shop (R-HOOK-2). A forged one could only make
        us re-read an order from the shop, which is where its content comes from. Orders carry
        no modification time, so a delivery is known by a digest of its body."""
        data = json_object(body)
        order = _hook_order(data)
        ident = clean_text(order.get("order_id") or order.get("id"))
        topic = clean_text(data.get("event") or data.get("topic")) or "order"
        return WebhookEvent(topic=topic[:64], order_ids=(ident,) if ident.isdigit() else (),
                            changed_at=hashlib.sha256(body).hexdigest())

    def list_webhooks(self) -> None:
        return None  # Cartum has no function that lists them: ours are known by the ids we kept

    def create_webhook(self, topic: str, address: str, secret: str) -> str:
        status, data = self.client.call_unwrapped("hooks/subscribe", {"event": topic, "target_url": address})
        ident = clean_text(data.get("id")) if isinstance(data, Mapping) else ""
        if status in (200, 201) and ident:
            return ident
        said = _hook_message(data)
        raise PlatformError(f"Cartum refused the webhook subscription for {topic} (HTTP {status}"
                            f"{': ' + said if said else ''}). Cartum delivers webhooks on its Pro plan only, to at "
                            "most 5 addresses per event: check the shop's plan and its subscriptions.")

    def delete_webhook(self, webhook_id: str, address: str) -> None:
        """``hooks/unSubscribe`` answers HTTP 410 when done (A.7)."""
        ident = clean_text(webhook_id)
        if not ident.isdigit():
            return
        status, data = self.client.call_unwrapped("hooks/unSubscribe", {"id": int(ident), "target_url": address})
        if status not in (200, 204, 404, 410):
            said = _hook_message(data)
            raise PlatformError(f"Cartum did not remove webhook {ident} (HTTP {status}{': ' + said if said else ''}).")

    # --- links ------------------------------------------------------------------------------

    def orders_url(self) -> str:
        """The shop admin (it lives at ``/edit/``; its order list is its main screen)."""
        return f"{origin(self.url)}/edit/"

    def order_url(self, external_id: str) -> str:
        """The shop admin: its order editor is addressed by an internal record id that the API
        does not give (it differs from the order number), so no deeper link is possible."""
        return self.orders_url()


class _Cursor:
    """Where an ``iter_orders`` run is: the fixed date window and the offset reached."""

    def __init__(self, *, start: str, end: str, offset: int, since: str) -> None:
        self.start, self.end, self.offset, self.since = start, end, offset, since

    def query(self, limit: int) -> dict[str, Any]:
        window = {"from": self.start} if self.start else {}
        return {**window, "to": self.end, "limit": limit, "offset": self.offset}

    def belongs(self) -> Belongs:
        """Whether an order answers this window: created on one of its days (module docstring)."""
        return within(_local_day, _day(self.start), _day(self.end))

    def after(self, count: int) -> _Cursor:
        return _Cursor(start=self.start, end=self.end, offset=self.offset + count, since=self.since)

    def dump(self) -> str:
        return json.dumps({"v": 1, "from": self.start, "to": self.end, "offset": self.offset,
                           "since": self.since}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> _Cursor:
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError("unknown version")
            return cls(start=str(data["from"]), end=str(data["to"]), offset=int(data["offset"]),
                       since=str(data.get("since") or ""))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError("This checkpoint was not made by the Cartum adapter; start the "
                             "import again without it.") from None


def _hook_order(data: Mapping[str, Any], depth: int = 3) -> Mapping[str, Any]:
    """The order a Cartum delivery is about: the body itself, or the object (or the first of
    the list) it wraps the order in; the shape of its body is not documented (A.7)."""
    if "order_id" in data or depth == 0:
        return data
    for key in ("order", "data", "response", "orders"):
        inner = data.get(key)
        if isinstance(inner, list) and inner:
            inner = inner[0]
        if isinstance(inner, Mapping):
            found = _hook_order(inner, depth - 1)
            if "order_id" in found or "id" in found:
                return found
    return data


def _hook_message(data: Any) -> str:
    if isinstance(data, Mapping):
        inner = data.get("response")
        text = data.get("message") or (inner.get("message") if isinstance(inner, Mapping) else "")
        return clean_text(text)[:200]
    return ""


def _update_failed(answer: Envelope, external_id: str) -> tuple[bool, str]:
    """Read ``orders/update``'s answer for our one order: (failed?, the shop's reason).

    The log's entries may lack ``order_id`` and use ``message`` or ``messages`` (fact sheet
    A.5), so an entry is matched by id, else by position.
    """
    log_entries = [e for e in (answer.get("log") or ()) if isinstance(e, Mapping)]
    mine = next((e for e in log_entries if clean_text(e.get("order_id")) == external_id),
                log_entries[0] if log_entries else None)
    reason = clean_text((mine or {}).get("message") or (mine or {}).get("messages"))[:200]
    entry_failed = mine is not None and clean_text(mine.get("status")).upper() not in ("", "OK")
    return answer.status != "OK" or entry_failed, reason


def _day(text: str) -> date | None:
    return parse_platform_time(text, "UTC").date() if text else None


def _local_day(order: Mapping[str, Any]) -> date | None:
    """The day of ``stat_created`` as the shop wrote it ("UTC" only so nothing is converted)."""
    return _day(clean_text(order.get("stat_created")))


def _number(value: str) -> int | str:
    """Cartum ids are integers; send them as such, anything else as typed."""
    text = clean_text(value)
    return int(text) if text.isdigit() else text


def _page_size(value: Any) -> int:
    try:
        size = int(clean_text(value) or 100)
    except ValueError:
        raise ValueError("The Cartum page size must be a whole number from 1 to 500.") from None
    return min(max(size, 1), MAX_PAGE_SIZE)


def _zone(name: str) -> ZoneInfo | timezone:
    if name.upper() in ("UTC", "GMT"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}; use an IANA name such as Europe/Kyiv.") from None


__all__ = ["CartumPlatform", "RULES"]
