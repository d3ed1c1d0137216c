"""Webhooks the simulators send: subscriptions, signed deliveries from a background thread,
each platform's retry rules, test switches and the ``/_sim/webhooks`` control API.

The platform modules own their subscription APIs (Shopify ``webhooks.json``, WooCommerce
``/wc/v3/webhooks``, Cartum ``hooks/subscribe``), which count as platform API calls (auth,
rate limit and ``/_sim/faults`` apply), and call ``Hooks.emit`` whenever an order is created
or changed by any path: the control API, the demo page, or the platform's own API write (a
status pushed by Orderdock fires a webhook too, as on the real shops: that is how an echo
guard gets tested). This module sends what they emit.

Sending. One scheduler thread per simulator process (started with the first subscription)
hands due deliveries to a pool of 4 sender threads; deliveries of one subscription for one
order go one at a time, in the order they were made, unless a fault says otherwise. The
queue is bounded (``MAX_QUEUED``; past it a delivery is logged with the error "queue full"
and not sent); nothing here ever blocks an API request, except WooCommerce's creation ping,
which WooCommerce itself sends inside the create request (below). Deliveries go to loopback
addresses only (127.0.0.0/8, ``localhost``, ``::1``): any other address is logged with an
error and never contacted. The body is rendered when the change is made (the state of the
order then), and kept, byte for byte, across retries.

Platform rules (real schedules compressed: ``hook_retry_seconds``, default 1, is the delay
before the first retry; ``hook_timeout_seconds`` overrides the platform's timeout):

* Shopify (shopify.md A9): POST JSON, the order as the REST API renders it, *bare* (not
  wrapped in ``{"order": ...}``), trimmed to the subscription's ``fields`` if any; headers
  ``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw body, key =
  the ``client_secret`` option), ``X-Shopify-Shop-Domain``, ``X-Shopify-API-Version`` (the
  subscription's), ``X-Shopify-Webhook-Id`` (one per delivery, the same on its retries),
  ``X-Shopify-Triggered-At`` and ``X-Shopify-Event-Id`` (one per change: a cancel sends
  ``orders/cancelled`` and ``orders/updated`` with the same event id); option
  ``hook_headers=new`` sends the ``Shopify-*`` names without ``X-``. Timeout 1 s to connect,
  5 s in all. A failed attempt (not 2xx, a connection error, a timeout) is retried 8 times,
  the n-th retry ``hook_retry_seconds * 2**(n-1)`` after the failure (real: 8 times over 4
  hours); when the 8th retry fails too, the subscription is deleted (our reading of "after 8
  consecutive failures an API-created subscription may be deleted"). Topics fired:
  ``orders/create`` (a new order only: the real shop may send ``orders/updated`` too),
  ``orders/updated`` (every change), ``orders/cancelled``, ``orders/edited`` (a quantity edit).
* WooCommerce (woocommerce.md B9, class-wc-webhook.php): POST JSON, the ``GET orders/<id>``
  body encoded as PHP's ``json_encode`` does (``\\/`` and ``\\uXXXX`` escapes); ``User-Agent:
  WooCommerce/<wc> Hookshot (WordPress/<wp>)``; ``X-WC-Webhook-Source`` (the shop's home URL),
  ``-Topic``, ``-Resource``, ``-Event``, ``-Signature`` (base64 HMAC-SHA256 of the raw body
  with the subscription's secret), ``-ID`` and ``-Delivery-ID``, which is, as in WooCommerce,
  ``wp_hash(webhook id . unix second)``: two deliveries of one webhook in the same second
  carry the same delivery id. Timeout 60 s. **No retries**: success is 200..302 and resets the
  failure count; each failure counts, and a failure when the count is already above 5 sets
  the webhook ``disabled`` (about the 7th in a row; re-enabling keeps the count, as
  WooCommerce does). WooCommerce renders the body when its queued action runs, seconds
  later; the simulator renders it at the change. ``order.deleted`` (status set to ``trash``)
  sends ``{"id": N}``.
* Cartum (cartum.md A.7; hooks/unSubscribe and retry facts from the third-party horoshop-mcp
  notes): PUT JSON, no signature, no id header. ASSUMPTION: the body is the order object as
  ``orders/get`` returns it, bare. Deliveries wait in a queue flushed by a cron every
  ``hook_flush_seconds`` (default 300, as the real shop; tests set it small) or at once by
  ``POST /_sim/webhooks/flush``; a failure (not 2xx) is retried up to 10 times, each retry
  ``hook_retry_seconds`` later at the first cron run after that (real: about every 10
  minutes). Timeout 10 s (unknown; ours). ``order_update`` fires when the status changes to
  anything but 1 (New), as the notes describe it; option ``hook_update_on=any`` fires it on
  every change (quantity, delivery, tracking code, paid) too. Option ``plan`` (default
  ``pro``): on any other plan subscribing works and nothing is ever delivered.

Control API (the simulator's, never counted as API calls; JSON):

* ``GET /_sim/webhooks`` -> ``[{id, topic, url, status, failures, created_at}]`` (Cartum's
  event is its ``topic``; status ``active`` | ``paused`` | ``disabled``).
* ``DELETE /_sim/webhooks/<id>`` -> the subscription removed as the shop's admin would
  (Cartum then sends an HTTP DELETE to its target URL, as the horoshop-mcp notes say).
* ``GET /_sim/webhooks/deliveries`` (``?order_id=``, ``?topic=``) -> every attempt, oldest
  first: ``{delivery_id, event_id, subscription_id, topic, url, method, order_id, attempt,
  status_code, error, sent_at, duration, fault, headers}``; ``status_code`` is null when
  ``error`` says why (timeout, connection refused, not loopback, dropped by fault, queue
  full); ``sent_at`` is a Unix time; ``event_id`` is the change's (sent as a header by
  Shopify only); WooCommerce's creation ping is logged with topic ``ping``, Cartum's DELETE
  with topic ``unsubscribed``. ``DELETE`` the same path forgets them.
* ``GET /_sim/webhooks/queue`` -> ``{pending, in_flight, held}``: deliveries not yet done.
* ``POST /_sim/webhooks/faults`` ``{"kind", "count": 1}`` -> ``{queued}``; the next ``count``
  deliveries (made from then on, retries excluded, pings excluded) meet the fault, first in
  first out. Kinds (``FAULT_KINDS``):
  "duplicate" - the delivery is sent twice in a row, same ids, same body and signature;
  "concurrent_duplicate" - sent twice at once from two threads;
  "bad_signature" - sent once with a wrong HMAC (a forged or corrupted request) and never
  retried, whatever the answer: the change it carried is left to the poll (not on Cartum,
  which signs nothing: 400);
  "out_of_order" - held back and sent right after the next delivery of the same
  subscription for the same order (or after ``HOLD_SECONDS`` if none comes);
  "drop" - never sent (logged with the error "dropped by fault").
  ``DELETE /_sim/webhooks/faults`` empties the queue.
* ``POST /_sim/webhooks/flush`` -> ``{flushed}``: Cartum's queue (retries waiting included)
  sent now; elsewhere nothing to do.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

FAULT_KINDS = ("duplicate", "concurrent_duplicate", "bad_signature", "out_of_order", "drop")
MAX_QUEUED = 10_000
MAX_LOGGED = 20_000
HOLD_SECONDS = 30.0
SENDERS = 4
NOT_LOOPBACK = "not sent: the simulator delivers to loopback addresses only"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")


@dataclass
class Subscription:
    id: int
    topic: str
    url: str
    secret: str = ""
    status: str = "active"  # active | paused | disabled
    failures: int = 0  # consecutive failed attempts (WooCommerce: its failure_count)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    data: dict = field(default_factory=dict)  # the platform's own fields

    def neutral(self) -> dict:
        return {"id": self.id, "topic": self.topic, "url": self.url, "status": self.status,
                "failures": self.failures, "created_at": iso(self.created)}


@dataclass
class Delivery:
    subscription: Subscription
    topic: str
    order_id: int | None
    body: bytes
    delivery_id: str
    event_id: str | None
    triggered: float
    fault: str | None = None
    attempt: int = 0  # attempts made so far
    due: float = 0.0  # monotonic
    seq: int = 0

    @property
    def key(self) -> tuple:
        return self.subscription.id, self.order_id


class Platform:
    """One platform's delivery rules; ``Hooks`` calls these with its lock held unless noted."""

    name = "platform"
    method = "POST"
    connect_timeout = 5.0
    total_timeout = 5.0
    retries = 0
    queued = False  # Cartum: deliveries wait for the cron
    delivers = True  # Cartum below the Pro plan: False
    signs = True

    def headers(self, hooks: Hooks, delivery: Delivery, forged: bool) -> dict:  # not under the lock
        return {"Content-Type": "application/json"}

    def before_attempt(self, hooks: Hooks, delivery: Delivery) -> None:  # not under the lock
        """Set what an attempt computes when it is made (WooCommerce's delivery id)."""

    def succeeded(self, status: int) -> bool:
        return 200 <= status < 300

    def retry_due(self, hooks: Hooks, now: float, attempt: int) -> float:
        return now + hooks.retry_seconds * 2 ** (attempt - 1)

    def on_success(self, hooks: Hooks, delivery: Delivery) -> None:
        delivery.subscription.failures = 0

    def on_failure(self, hooks: Hooks, delivery: Delivery, final: bool) -> None:
        delivery.subscription.failures += 1

    def new_delivery_id(self, subscription: Subscription) -> str:
        return str(uuid.uuid4())


class Hooks:
    """Subscriptions, the outbox and its threads, the fault queue and the delivery log of one
    simulator process. The platform module keeps the subscriptions' platform fields."""

    def __init__(self, platform: Platform, options: dict) -> None:
        self.platform = platform
        self.retry_seconds = float(options.get("hook_retry_seconds", 1))
        timeout = options.get("hook_timeout_seconds")
        if timeout not in (None, ""):
            platform.total_timeout = float(timeout)
            platform.connect_timeout = min(platform.connect_timeout, platform.total_timeout)
        self.flush_seconds = max(0.01, float(options.get("hook_flush_seconds", 300)))
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.subs: dict[int, Subscription] = {}
        self.next_id = 1
        self.pending: list[Delivery] = []
        self.held: dict[tuple, tuple[Delivery, float]] = {}  # out_of_order: key -> (delivery, release)
        self.inflight: set[tuple] = set()
        self.faults: deque[str] = deque()
        self.log: deque[dict] = deque(maxlen=MAX_LOGGED)
        self.seq = 0
        self.started = time.monotonic()  # the Cartum cron ticks from here
        self.closed = False
        self.thread: threading.Thread | None = None
        self.pool: ThreadPoolExecutor | None = None

    # --- subscriptions ------------------------------------------------------------------

    def add(self, topic: str, url: str, secret: str = "", first_id: int = 1, **data) -> Subscription:
        with self.lock:
            self.next_id = max(self.next_id, first_id)
            sub = Subscription(self.next_id, topic, url, secret, data=data)
            self.next_id += 1
            self.subs[sub.id] = sub
            self._start()
            return sub

    def remove(self, sub_id: int) -> Subscription | None:
        with self.lock:
            return self.subs.pop(sub_id, None)

    def get(self, sub_id: int) -> Subscription | None:
        with self.lock:
            return self.subs.get(sub_id)

    def all(self) -> list[Subscription]:
        with self.lock:
            return sorted(self.subs.values(), key=lambda s: s.id)

    def neutral(self) -> list[dict]:
        return [sub.neutral() for sub in self.all()]

    # --- events -------------------------------------------------------------------------

    def emit(self, order_id: int | None, topics: Iterable[str], render: Callable[[Subscription], bytes]) -> int:
        """One change of order ``order_id``: a delivery to every active subscription to one of
        ``topics``, its body ``render(subscription)``. The caller may hold its shop's lock
        (rendering reads the order); returns the number of deliveries made."""
        topics = list(dict.fromkeys(topics))
        with self.lock:
            if not self.platform.delivers:
                return 0
            chosen = [s for s in sorted(self.subs.values(), key=lambda s: s.id)
                      if s.topic in topics and s.status == "active"]
        if not chosen:
            return 0
        event_id, triggered = str(uuid.uuid4()), time.time()
        made = [Delivery(sub, sub.topic, order_id, render(sub), self.platform.new_delivery_id(sub),
                         event_id, triggered) for sub in chosen]
        with self.lock:
            for delivery in sorted(made, key=lambda d: topics.index(d.topic)):
                self._enqueue_new(delivery)
            self.wake.notify_all()
        return len(made)

    def _enqueue_new(self, delivery: Delivery) -> None:
        delivery.fault = self.faults.popleft() if self.faults else None
        if len(self.pending) + len(self.held) >= MAX_QUEUED:
            self._record(delivery, None, "queue full: not sent", time.time(), 0.0, {})
            return
        if delivery.fault == "drop":
            self._record(delivery, None, "dropped by fault", time.time(), 0.0, {}, attempt=1)
            return
        now = time.monotonic()
        delivery.due = self._first_due(now)
        if delivery.fault == "out_of_order" and delivery.key not in self.held:
            self.held[delivery.key] = (delivery, now + HOLD_SECONDS)
            return
        self._push(delivery)
        earlier = self.held.pop(delivery.key, None)
        if earlier is not None:  # the held one goes right after this one
            earlier[0].due = delivery.due
            self._push(earlier[0])

    def _first_due(self, now: float) -> float:
        if not self.platform.queued:
            return now
        return self._next_tick(now)

    def _next_tick(self, moment: float) -> float:
        ticks = int((moment - self.started) // self.flush_seconds) + 1
        return self.started + ticks * self.flush_seconds

    def _push(self, delivery: Delivery) -> None:
        self.seq += 1
        delivery.seq = self.seq
        self.pending.append(delivery)

    # --- control ------------------------------------------------------------------------

    def add_faults(self, kind: str, count: int) -> int:
        with self.lock:
            self.faults.extend([kind] * count)
            return len(self.faults)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def flush(self) -> int:
        """Cartum's queue sent now (retries waiting included)."""
        if not self.platform.queued:
            return 0
        with self.lock:
            now = time.monotonic()
            waiting = [d for d in self.pending if d.due > now]
            for delivery in waiting:
                delivery.due = now
            self.wake.notify_all()
            return len(waiting)

    def queue_state(self) -> dict:
        with self.lock:
            return {"pending": len(self.pending), "in_flight": len(self.inflight), "held": len(self.held)}

    def deliveries(self, order_id: str | None = None, topic: str | None = None) -> list[dict]:
        with self.lock:
            rows = list(self.log)
        if order_id not in (None, ""):
            rows = [r for r in rows if str(r["order_id"]) == str(order_id)]
        if topic:
            rows = [r for r in rows if r["topic"] == topic]
        return rows

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.wake.notify_all()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    # --- sending ------------------------------------------------------------------------

    def send_now(self, subscription: Subscription, topic: str, body: bytes, headers: dict,
                 timeout: float) -> int | None:
        """One request sent from the caller's thread (WooCommerce's creation ping), logged;
        its status code, or None when it failed to get one."""
        started = time.time()
        status, error = http_send("POST", subscription.url, body, headers, timeout, timeout)
        ping = Delivery(subscription, topic, None, body, "", None, started)
        with self.lock:
            self._record(ping, status, error, started, time.time() - started, headers, attempt=1, method="POST")
        return status

    def _start(self) -> None:
        if self.thread is None and not self.closed:
            self.pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix=f"{self.platform.name}-hook")
            self.thread = threading.Thread(target=self._schedule, name=f"{self.platform.name}-hooks", daemon=True)
            self.thread.start()

    def _schedule(self) -> None:
        with self.lock:
            while not self.closed:
                now = time.monotonic()
                for key, (delivery, release) in list(self.held.items()):
                    if release <= now:
                        del self.held[key]
                        delivery.due = now
                        self._push(delivery)
                busy = set(self.inflight)
                ready, wait = [], None
                for delivery in sorted(self.pending, key=lambda d: (d.due, d.seq)):
                    if delivery.key in busy:
                        continue
                    if delivery.due > now:
                        wait = delivery.due - now
                        break
                    busy.add(delivery.key)
                    ready.append(delivery)
                for delivery in ready:
                    self.pending.remove(delivery)
                    self.inflight.add(delivery.key)
                    self.pool.submit(self._attempt, delivery)
                releases = [release - now for _, release in self.held.values()]
                if releases:
                    wait = min([w for w in (wait, *releases) if w is not None])
                self.wake.wait(timeout=None if wait is None else max(wait, 0.001))

    def _attempt(self, delivery: Delivery) -> None:
        try:
            self._attempt_once(delivery)
        except Exception as error:  # never lose the key: a crash would stall the order's queue
            with self.lock:
                self._record(delivery, None, f"simulator error: {error!r}", time.time(), 0.0, {})
        finally:
            with self.lock:
                self.inflight.discard(delivery.key)
                self.wake.notify_all()

    def _attempt_once(self, delivery: Delivery) -> None:
        sub = delivery.subscription
        with self.lock:
            if self.subs.get(sub.id) is not sub:
                return  # unsubscribed (or deleted by failures) since: nothing to send
        fault = delivery.fault if delivery.attempt == 0 else None
        delivery.attempt += 1
        self.platform.before_attempt(self, delivery)
        headers = self.platform.headers(self, delivery, forged=fault == "bad_signature")
        copies = 2 if fault in ("duplicate", "concurrent_duplicate") else 1
        results: list[tuple] = [None] * copies

        def send(index: int, barrier: threading.Barrier | None = None) -> None:
            if barrier is not None:
                barrier.wait(timeout=5)
            started = time.time()
            status, error = http_send(self.platform.method, sub.url, delivery.body, headers,
                                      self.platform.connect_timeout, self.platform.total_timeout)
            results[index] = (status, error, started, time.time() - started)

        if fault == "concurrent_duplicate":
            barrier = threading.Barrier(2)
            twins = [threading.Thread(target=send, args=(i, barrier), daemon=True) for i in range(2)]
            for twin in twins:
                twin.start()
            for twin in twins:
                twin.join()
        else:
            for index in range(copies):
                send(index)
        with self.lock:
            for status, error, started, duration in results:
                self._record(delivery, status, error, started, duration, headers)
            ok = any(status is not None and self.platform.succeeded(status) for status, *_ in results)
            if ok:
                self.platform.on_success(self, delivery)
                return
            if fault == "bad_signature":
                return  # a forged request: the platform retries nothing
            retry = delivery.attempt <= self.platform.retries
            self.platform.on_failure(self, delivery, final=not retry)
            if retry and self.subs.get(sub.id) is sub:
                delivery.due = self.platform.retry_due(self, time.monotonic(), delivery.attempt)
                self._push(delivery)

    def _record(self, delivery: Delivery, status: int | None, error: str | None, sent_at: float,
                duration: float, headers: dict, attempt: int | None = None, method: str | None = None) -> None:
        """One attempt in the log (caller holds the lock); a fault shows on first attempts only."""
        attempt = delivery.attempt if attempt is None else attempt
        self.log.append({
            "delivery_id": delivery.delivery_id, "event_id": delivery.event_id,
            "subscription_id": delivery.subscription.id, "topic": delivery.topic,
            "url": delivery.subscription.url, "method": method or self.platform.method,
            "order_id": delivery.order_id, "attempt": attempt, "status_code": status, "error": error,
            "sent_at": sent_at, "duration": round(duration, 4),
            "fault": delivery.fault if attempt <= 1 else None, "headers": dict(headers)})


def http_send(method: str, url: str, body: bytes, headers: dict, connect_timeout: float,
              total_timeout: float) -> tuple[int | None, str | None]:
    """One request: (status, None), or (None, why it got no status). Loopback only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None, f"not sent: {parts.scheme or 'no'} scheme"
    if not is_loopback(parts.hostname):
        return None, NOT_LOOPBACK
    start = time.monotonic()
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=min(connect_timeout, total_timeout))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()

        def left() -> float:
            remaining = total_timeout - (time.monotonic() - start)
            if remaining <= 0:
                raise TimeoutError
            return remaining

        connection.sock.settimeout(left())
        connection.request(method, path, body=body, headers=headers)
        connection.sock.settimeout(left())
        response = connection.getresponse()  # reads on with the socket's last timeout
        response.read(1 << 20)
        return response.status, None
    except (TimeoutError, socket.timeout):
        return None, f"timeout after {total_timeout:g} s"
    except (OSError, http.client.HTTPException) as error:
        return None, f"connection error: {error.__class__.__name__}: {error}"
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# The three platforms
# ---------------------------------------------------------------------------------------------


def hmac_base64(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


class Shopify(Platform):
    name = "shopify"
    connect_timeout, total_timeout = 1.0, 5.0
    retries = 8

    def __init__(self, shop: Any, options: dict) -> None:
        self.shop = shop  # client_secret and domain are read at send time
        self.new_names = str(options.get("hook_headers", "")).strip().lower() == "new"

    def headers(self, hooks: Hooks, delivery: Delivery, forged: bool) -> dict:
        key = self.shop.client_secret + ("-forged" if forged else "")
        triggered = datetime.fromtimestamp(delivery.triggered, timezone.utc)
        values = {"Topic": delivery.topic, "Hmac-Sha256": hmac_base64(key, delivery.body),
                  "Shop-Domain": self.shop.domain,
                  "API-Version": delivery.subscription.data.get("api_version", ""),
                  "Webhook-Id": delivery.delivery_id, "Event-Id": delivery.event_id,
                  "Triggered-At": triggered.isoformat(timespec="microseconds").replace("+00:00", "Z")}
        prefix = "Shopify-" if self.new_names else "X-Shopify-"
        return {"Content-Type": "application/json", "User-Agent": "Shopify-Captain-Hook",
                **{prefix + name: str(value) for name, value in values.items()}}

    def on_failure(self, hooks: Hooks, delivery: Delivery, final: bool) -> None:
        super().on_failure(hooks, delivery, final)
        if final:  # the 8th retry failed: an API-created subscription is deleted
            hooks.subs.pop(delivery.subscription.id, None)


WC_VERSION, WP_VERSION = "9.4.2", "6.7.1"
WP_HASH_SALT = b"orderdock simulator wp_hash salt"


class WooCommerce(Platform):
    name = "woocommerce"
    connect_timeout, total_timeout = 60.0, 60.0
    user_agent = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"

    def new_delivery_id(self, subscription: Subscription) -> str:
        return self.wp_hash(subscription)

    @staticmethod
    def wp_hash(subscription: Subscription) -> str:
        """``wp_hash($id . strtotime('now'))``: the same for one webhook within one second."""
        text = f"{subscription.id}{int(time.time())}".encode()
        return hmac.new(WP_HASH_SALT, text, hashlib.md5).hexdigest()

    def before_attempt(self, hooks: Hooks, delivery: Delivery) -> None:
        delivery.delivery_id = self.wp_hash(delivery.subscription)

    def headers(self, hooks: Hooks, delivery: Delivery, forged: bool) -> dict:
        sub = delivery.subscription
        resource, _, event = delivery.topic.partition(".")
        key = wp_specialchars_decode(sub.secret) + ("-forged" if forged else "")
        return {"Content-Type": "application/json", "User-Agent": self.user_agent,
                "X-WC-Webhook-Source": sub.data.get("source", ""), "X-WC-Webhook-Topic": delivery.topic,
                "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": hmac_base64(key, delivery.body),
                "X-WC-Webhook-ID": str(sub.id), "X-WC-Webhook-Delivery-ID": delivery.delivery_id}

    def succeeded(self, status: int) -> bool:
        return 200 <= status < 303

    def on_failure(self, hooks: Hooks, delivery: Delivery, final: bool) -> None:
        sub = delivery.subscription
        if sub.failures > 5:  # failed_delivery(): woocommerce_max_webhook_delivery_failures = 5
            sub.status = "disabled"
        else:
            sub.failures += 1
        sub.updated = time.time()

    def ping(self, hooks: Hooks, sub: Subscription) -> int | None:
        """``deliver_ping()``: ``webhook_id=<id>`` form-encoded, unsigned, 5 s (WordPress's
        default timeout), sent inside the create request; its answer changes nothing."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": self.user_agent}
        return hooks.send_now(sub, "ping", f"webhook_id={sub.id}".encode(), headers, timeout=5.0)


def wp_specialchars_decode(text: str) -> str:
    """WordPress's ``wp_specialchars_decode($secret, ENT_QUOTES)``: the key WooCommerce signs with."""
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#039;", "'"),
                         ("&#39;", "'"), ("&#x27;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


class Cartum(Platform):
    name = "cartum"
    method = "PUT"
    connect_timeout, total_timeout = 10.0, 10.0
    retries = 10
    queued = True
    signs = False

    def __init__(self, options: dict) -> None:
        self.delivers = str(options.get("plan", "pro")).strip().lower() == "pro"

    def headers(self, hooks: Hooks, delivery: Delivery, forged: bool) -> dict:
        return {"Content-Type": "application/json; charset=utf-8"}

    def retry_due(self, hooks: Hooks, now: float, attempt: int) -> float:
        return hooks._next_tick(now + hooks.retry_seconds)

    def remove(self, hooks: Hooks, sub: Subscription) -> None:
        """The shop's admin removed it: Cartum tells the target with an HTTP DELETE."""
        def tell() -> None:
            started = time.time()
            status, error = http_send("DELETE", sub.url, b"", {}, self.connect_timeout, self.total_timeout)
            gone = Delivery(sub, "unsubscribed", None, b"", str(uuid.uuid4()), None, started)
            with hooks.lock:
                hooks._record(gone, status, error, started, time.time() - started, {}, attempt=1, method="DELETE")
        threading.Thread(target=tell, daemon=True).start()


def php_json(value: Any) -> bytes:
    """``trim(wp_json_encode($value))``: compact, ``/`` escaped, non-ASCII as ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def compact_json(value: Any, ascii_only: bool = False) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only).encode()


# ---------------------------------------------------------------------------------------------
# The control API
# ---------------------------------------------------------------------------------------------


def install(app: Flask, hooks: Hooks) -> None:
    """``/_sim/webhooks...`` (see the module docstring) for ``hooks``."""
    app.extensions["sim_webhooks"] = hooks

    @app.get("/_sim/webhooks")
    def sim_webhooks():
        return jsonify(hooks.neutral())

    @app.delete("/_sim/webhooks/<int:sub_id>")
    def sim_remove_webhook(sub_id: int):
        sub = hooks.remove(sub_id)
        if sub is None:
            return jsonify(error=f"no webhook {sub_id}"), 404
        if isinstance(hooks.platform, Cartum):
            hooks.platform.remove(hooks, sub)
        return jsonify(sub.neutral())

    @app.get("/_sim/webhooks/deliveries")
    def sim_deliveries():
        return jsonify(hooks.deliveries(request.args.get("order_id"), request.args.get("topic")))

    @app.delete("/_sim/webhooks/deliveries")
    def sim_forget_deliveries():
        with hooks.lock:
            hooks.log.clear()
        return jsonify(ok=True)

    @app.get("/_sim/webhooks/queue")
    def sim_queue():
        return jsonify(hooks.queue_state())

    @app.post("/_sim/webhooks/faults")
    def sim_hook_faults():
        body = request.get_json(force=True, silent=True) or {}
        kind = str(body.get("kind"))
        if kind not in FAULT_KINDS:
            return jsonify(error=f"kind must be one of {', '.join(FAULT_KINDS)}"), 400
        if kind == "bad_signature" and not hooks.platform.signs:
            return jsonify(error=f"{hooks.platform.name} signs no webhook: there is no signature to break"), 400
        try:
            count = int(body.get("count", 1))
        except (TypeError, ValueError):
            count = 0
        if count < 1:
            return jsonify(error="count must be a whole number of 1 or more"), 400
        return jsonify(queued=hooks.add_faults(kind, count))

    @app.delete("/_sim/webhooks/faults")
    def sim_clear_hook_faults():
        hooks.clear_faults()
        return jsonify(queued=0)

    @app.post("/_sim/webhooks/flush")
    def sim_flush():
        return jsonify(flushed=hooks.flush())
