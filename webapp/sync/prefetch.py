"""Role in ``sync/``: the next page of orders is fetched while the current one is written.

A sync's time is the shop's answers plus our writing; done one after the other, the shop's
request budget sits unused while we write and our database waits while the shop answers.
``prefetched`` reads the adapter's pages in a thread of its own, at most ``depth`` pages ahead
(so memory stays bounded and a stopped run wastes at most that many requests), and hands them
over in order. Every request still goes through the shop's shared budget (``platforms.http``).

The thread has an app context of its own, so anything it might touch there (nothing today:
adapters use neither Flask nor the database) gets its own database session. An error while
fetching is raised to the consumer at the page where it happened, so a failing page fails the
run exactly where it would have without prefetching: the pages before it are committed.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from flask import current_app, has_app_context

from webapp.extensions import db

T = TypeVar("T")
_DONE = object()
HANDOVER_SECONDS = 0.5  # how often the fetching thread looks whether the caller has stopped
STOP_WAIT = 5.0  # seconds the caller waits for the thread when it stops early


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class prefetched:  # noqa: N801 - used like a function: ``with prefetched(pages) as ahead: for page in ahead``
    """The pages of ``pages``, in order, each next one fetched while the caller works on this.
    Leaving the ``with`` block stops the fetching (at most ``depth`` pages were read ahead)."""

    def __init__(self, pages: Iterable[T], depth: int = 1) -> None:
        self.waited = 0.0
        """Seconds the caller waited for the shop (the rest of its time was its own work)."""
        self._handover: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        app = current_app._get_current_object() if has_app_context() else None
        self._thread = threading.Thread(target=_fetch, args=(iter(pages), self._handover, self._stop, app),
                                        daemon=True, name="orderdock-prefetch")

    def __enter__(self) -> prefetched:
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[T]:
        return self._pages()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        # A request in flight ends within its timeout; the thread is a daemon and quits after it.
        self._thread.join(timeout=STOP_WAIT)

    def _pages(self) -> Iterator[T]:
        while True:
            began = time.perf_counter()
            item = self._handover.get()
            self.waited += time.perf_counter() - began
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item


def _fetch(pages: Iterator, handover: queue.Queue, stop: threading.Event, app) -> None:
    if app is None:
        return _fetch_all(pages, handover, stop)
    with app.app_context():
        try:
            _fetch_all(pages, handover, stop)
        finally:
            db.session.remove()


def _fetch_all(pages: Iterator, handover: queue.Queue, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            try:
                item = next(pages)
            except StopIteration:
                item = _DONE
            except BaseException as error:  # handed over, raised in the caller's thread
                item = _Failed(error)
            if not _hand_over(handover, item, stop) or item is _DONE or isinstance(item, _Failed):
                return
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()  # a generator's cleanup runs in the thread that ran it


def _hand_over(handover: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handover.put(item, timeout=HANDOVER_SECONDS)
            return True
        except queue.Full:
            continue
    return False
