"""Fetching overlapped with writing (issue 13): the next page is asked for while the caller still
works on the current one, at most one page ahead; errors arrive where they happened; leaving
early stops the fetching. Synchronised with events, never with sleeps."""
from __future__ import annotations

import threading

import pytest

from webapp.sync.prefetch import prefetched

WAIT = 10.0  # seconds a step may take on a busy machine before the test calls it a hang


class Shop:
    """Pages 1..n; records which pages were asked for, and signals each request."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages, self.fail_at = pages, fail_at
        self.asked: list[int] = []
        self.asked_for = {number: threading.Event() for number in range(1, pages + 2)}
        self.closed = threading.Event()

    def __iter__(self):
        try:
            for number in range(1, self.pages + 1):
                self.asked.append(number)
                self.asked_for[number].set()
                if number == self.fail_at:
                    raise ConnectionError(f"page {number}: the shop did not answer")
                yield number
        finally:
            self.closed.set()


def test_the_next_page_is_fetched_while_the_current_one_is_written():
    shop = Shop(3)
    with prefetched(shop) as ahead:
        pages = iter(ahead)
        assert next(pages) == 1
        # Still "writing" page 1: page 2 is asked for meanwhile, page 3 not yet (one ahead).
        assert shop.asked_for[2].wait(WAIT)
        assert 3 not in shop.asked
        assert list(pages) == [2, 3]
    assert shop.asked == [1, 2, 3]


def test_an_error_arrives_at_the_page_where_it_happened():
    shop = Shop(4, fail_at=3)
    got = []
    with pytest.raises(ConnectionError, match="page 3"):
        with prefetched(shop) as ahead:
            for page in ahead:
                got.append(page)
    assert got == [1, 2]  # the pages before the failing one were handed over (and written)
    assert shop.asked == [1, 2, 3]


def test_leaving_early_stops_the_fetching():
    shop = Shop(50)
    with prefetched(shop) as ahead:
        pages = iter(ahead)
        assert next(pages) == 1
        assert shop.asked_for[2].wait(WAIT)
    assert shop.closed.wait(WAIT)  # the adapter's generator was closed, in its own thread
    assert len(shop.asked) <= 3  # one page ahead, and at most the one in flight
