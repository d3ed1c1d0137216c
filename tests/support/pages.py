"""Reading an adapter's pages with a simulator fault injected between two of them (R-REL-2)."""
from __future__ import annotations

from collections.abc import Iterable


def ids_with_fault_after_page(pages: Iterable, sim, kind: str, *, count: int = 1, after_page: int = 1) -> list[str]:
    """Every external id of ``pages`` in order, with ``count`` faults of ``kind`` queued once page
    ``after_page`` has arrived, so they meet the request for the next page."""
    ids: list[str] = []
    for number, page in enumerate(pages, start=1):
        ids += [order.external_id for order in page.orders]
        if number == after_page:
            sim.inject(kind, count=count)
    return ids
