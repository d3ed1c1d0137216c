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

Records already sent only tell a page served again *within* a run. A cache that ignores the
query (Cartum asks everything by POST to one path) also answers with what an *earlier* call
got: the previous run's last page, or a re-read by ids. So every read also passes the
adapter's ``belongs(record)``: does this record answer *this* query (created or changed at or
after the filter, allowing the adapter's documented slack; among the ids asked for)? A page
with a record that does not belong is a **stray** answer, asked for again and then
``RepeatedPage`` like a repeat. ``belongs`` must be lenient where the shop is: a record it
cannot judge (no date) belongs.
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
Belongs = Callable[[Mapping[str, Any]], bool]

STRAY = "with records of another request"

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
             expected: Collection[str] = (), belongs: Belongs | None = None) -> Page:
        """``fetch()`` the page until it is not one already sent, and return it.

        ``rows(page)`` gives the page's records (JSON objects); ``expected`` the ids this
        request may serve again by the adapter's design; ``belongs(record)`` whether a record
        answers this request at all. Raises ``RepeatedPage``.
        """
        attempts = max(1, self._settings.attempts)
        for attempt in range(1, attempts + 1):
            page = fetch()
            records = [row for row in rows(page) if isinstance(row, Mapping)]
            keyed = self._keyed(records)
            fault = _stray(records, belongs) or self._fault(keyed, set(expected))
            if fault is None:
                self._remember(keyed)
                return page
            if attempt < attempts:
                delay = backoff_delay(self._settings, attempt)
                log.warning("a page of %s came %s; asking again in %.2f s", self.what, fault, delay)
                self._sleep(delay)
        log.warning("a page of %s came %s %d times; stopping the run", self.what, fault, attempts)
        raise RepeatedPage(self._message(fault, attempts))

    def _keyed(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
        return [(ident, _fingerprint(row)) for row in rows if (ident := clean_text(row.get(self._id_field)))]

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
        if fault == STRAY:
            answer = (f"with {self.what} that do not match the request (created or changed before "
                      f"the date asked for, or not among the ones asked for), {attempts} times in a row")
        else:
            page = "the same page" if fault == "again" else "a page that partly repeats one"
            answer = f"with {self.what} it had already sent ({page} {attempts} times in a row)"
        return (f"The shop answered a request for {self.what} {answer}. A cache or proxy in "
                "front of the shop is probably serving stale answers. The sync stopped here so "
                "that no order is skipped; nothing is lost, and the next sync tries again by "
                "itself. If this keeps happening, ask whoever runs the shop's website to exclude "
                f"its API{exclude} from caching.")


def among(ids: Iterable[Any], id_field: str = "id") -> Belongs:
    """``belongs`` for a read by ids: the record is one of ``ids``."""
    wanted = {clean_text(i) for i in ids}
    return lambda record: clean_text(record.get(id_field)) in wanted


def within(moment_of: Callable[[Mapping[str, Any]], Any], start: Any = None, end: Any = None) -> Belongs:
    """``belongs`` for a read by time: ``start <= moment_of(record) <= end`` (either bound
    optional, any comparable values). A record whose moment is None or unreadable belongs:
    the adapter's mapping decides about it, not the guard."""
    def belongs(record: Mapping[str, Any]) -> bool:
        try:
            moment = moment_of(record)
        except (TypeError, ValueError):
            return True
        return moment is None or ((start is None or moment >= start) and (end is None or moment <= end))
    return belongs


def _stray(records: list[Mapping[str, Any]], belongs: Belongs | None) -> str | None:
    """STRAY when a record on the page does not answer the request (an earlier call's answer)."""
    if belongs is None or all(belongs(record) for record in records):
        return None
    return STRAY


def _fingerprint(row: Mapping[str, Any]) -> bytes:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).digest()
