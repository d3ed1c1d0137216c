"""One paging guard for every adapter: a page served again is noticed, asked for again, and,
if the shop keeps serving it, the run fails loudly instead of skipping orders (R-REL-2).

Role in ``platforms/``: the adapters page differently (Cartum ``limit``/``offset`` over a
fixed window, Shopify ``page_info`` cursors, WooCommerce a fresh query from the last time
seen), but a cache or proxy in front of a shop breaks them all the same way: it answers the
request for the next page with a page already sent. An adapter whose cursor then moves on
never gets the page it asked for, and the run ends "succeeded" with orders missing.

``PageGuard`` remembers every record a paging run got (its id and a fingerprint of its JSON)
and judges each page before the adapter moves its cursor:

* a **repeat** (nothing new on the page, and records on it already sent unchanged) or an
  **overlap** (new records, but also some already sent unchanged) is asked for again, up to
  ``HttpSettings.attempts`` times with the 5xx backoff; a page still wrong raises
  ``RepeatedPage`` with what happened and what to do;
* a record sent again *changed* (another fingerprint) is new: an order modified during the
  run moves to the end of a "modified" ordering and must be read again;
* ``expected`` ids are records the adapter's own scheme asks for again on purpose
  (WooCommerce's orders sharing the boundary second): they are neither new nor a fault;
* ``overlap_expected=True`` (offset paging, Cartum) accepts an overlap, since an order
  inserted before the offset during the run shifts the next page by one; a whole repeat is
  still a fault. The importer deduplicates by external id.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from webapp.platforms.base import RepeatedPage, clean_text
from webapp.platforms.http import HttpSettings, backoff_delay

log = logging.getLogger(__name__)

Page = TypeVar("Page")

MEMORY = 100_000
"""Records remembered per run (id + 8-byte fingerprint each); a cache repeats recent pages."""


class PageGuard:
    """Judges the pages of one paging run; make one per run (per ``iter_orders`` call).

    ``what`` names the records in messages ("orders"); ``id_field`` is their id's JSON key;
    ``api`` is the address to exclude from caching, quoted in the error.
    """

    def __init__(self, what: str, *, id_field: str = "id", api: str = "",
                 overlap_expected: bool = False, settings: HttpSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.what = what
        self._id_field = id_field
        self._api = api
        self._overlap_expected = overlap_expected
        self._settings = settings or HttpSettings()
        self._sleep = sleep
        self._sent: OrderedDict[str, bytes] = OrderedDict()

    def read(self, fetch: Callable[[], Page], rows: Callable[[Page], Iterable[Any]],
             expected: Collection[str] = ()) -> Page:
        """``fetch()`` the page until it is not one already sent, and return it.

        ``rows(page)`` gives the page's records (JSON objects); ``expected`` the ids this
        request may serve again by the adapter's design. Raises ``RepeatedPage``.
        """
        attempts = max(1, self._settings.attempts)
        for attempt in range(1, attempts + 1):
            page = fetch()
            keyed = self._keyed(rows(page))
            fault = self._fault(keyed, set(expected))
            if fault is None:
                self._remember(keyed)
                return page
            if attempt < attempts:
                delay = backoff_delay(self._settings, attempt)
                log.warning("a page of %s came %s; asking again in %.2f s", self.what, fault, delay)
                self._sleep(delay)
        log.warning("a page of %s came %s %d times; stopping the run", self.what, fault, attempts)
        raise RepeatedPage(self._message(fault, attempts))

    def _keyed(self, rows: Iterable[Any]) -> list[tuple[str, bytes]]:
        return [(ident, _fingerprint(row)) for row in rows
                if isinstance(row, Mapping) and (ident := clean_text(row.get(self._id_field)))]

    def _fault(self, keyed: list[tuple[str, bytes]], expected: set[str]) -> str | None:
        """"again" (a repeat), "partly again" (an overlap) or None (a good page)."""
        again = [ident for ident, print_ in keyed
                 if ident not in expected and self._sent.get(ident) == print_]
        if not again:
            return None
        new = [ident for ident, print_ in keyed if self._sent.get(ident) != print_]
        if not new:
            return "again"
        return None if self._overlap_expected else "partly again"

    def _remember(self, keyed: list[tuple[str, bytes]]) -> None:
        for ident, print_ in keyed:
            self._sent[ident] = print_
            self._sent.move_to_end(ident)
        while len(self._sent) > MEMORY:
            self._sent.popitem(last=False)

    def _message(self, fault: str, attempts: int) -> str:
        exclude = f" (the address {self._api})" if self._api else ""
        return (f"The shop answered the request for the next page of {self.what} with {self.what} it "
                f"had already sent ({'the same page' if fault == 'again' else 'a page that partly repeats one'} "
                f"{attempts} times in a row). A cache or proxy in front of the shop is probably "
                "serving stale pages. The sync stopped here so that no order is skipped; nothing "
                "is lost, and the next sync tries again by itself. If this keeps happening, ask "
                f"whoever runs the shop's website to exclude its API{exclude} from caching.")


def _fingerprint(row: Mapping[str, Any]) -> bytes:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).digest()
