"""Webhooks end to end (R-HOOK-1..6): deliveries signed as each platform signs them, posted to
``/hooks/<store token>/<platform>``; the jobs on a real RQ worker in this process; each
platform's simulator on loopback for the orders, and, from R-HOOK-4 on, for the subscriptions
and the deliveries it sends by itself to a live server of the app. Nothing of ours is mocked.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from flask import g
from rq import SimpleWorker
from sqlalchemy import func, select
from werkzeug.serving import make_server

from simulators import woocommerce as woo_sim
from tests.integration.conftest import post, sign_in
from tests.integration.test_sync_jobs import wait_until
from tests.support import factories
from tests.support.simulators import serving
from tests.integration.test_stores import chosen_statuses
from webapp.extensions import db, redis_client
from webapp.models import (
    FeedKind, LogLevel, Order, OrderItem, RunKind, RunState, Status, StatusGroup, Store, SyncLogEntry, SyncRun,
    WebhookDelivery,
)
from webapp.models.types import utcnow
from webapp.platforms import PLATFORMS as ADAPTERS
from webapp.stores_cli import StoreSpec, connect
from webapp.sync import jobs, retention, schedule, status_push, webhooks
from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync
from webapp.sync.limits import store_lock
from webapp.sync.queues import QUEUES, queue

PLATFORMS = ("cartum", "shopify", "woocommerce")
SHOPIFY_SECRET = "sim-client-secret"  # the Shopify simulator's app client secret (its default)
CREDENTIALS = {
    "cartum": {"login": "manager", "password": "cartum-demo"},
    "shopify": {"access_token": "shpat_simulator", "client_secret": SHOPIFY_SECRET},
    "woocommerce": {"consumer_key": woo_sim.CONSUMER_KEY, "consumer_secret": woo_sim.CONSUMER_SECRET},
}
ZONES = {"cartum": "Europe/Kyiv", "shopify": "", "woocommerce": "Europe/Kyiv"}
WOO_SECRET = "the-store's-own-webhook-secret"  # what registering gives a WooCommerce store
ORDERS = 60


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """A looser request budget for the simulators, pushes retried at once, and a webhook job
    that waits half a second (not ten) for a busy store's lock."""
    for platform in ("cartum", "woocommerce"):
        monkeypatch.setattr(ADAPTERS[platform], "RATE", "50/second")
    monkeypatch.setattr(status_push, "RETRY_INTERVALS", [0, 0, 0, 0])
    monkeypatch.setattr(jobs, "HOOK_LOCK_WAIT", 0.5)


@pytest.fixture
def office(named_office):
    return named_office


# --- helpers --------------------------------------------------------------------------------


def work() -> None:
    """Every queued job, by a real RQ worker in this process, until the queues are empty."""
    SimpleWorker([queue(name) for name in QUEUES], connection=redis_client()).work(burst=True)
    g.pop("_login_user", None)


def fresh(model, ident):
    db.session.remove()  # see what the jobs and the requests committed
    return db.session.get(model, ident)


def connect_store(platform: str, sim, **credentials) -> Store:
    spec = StoreSpec(platform, f"{platform} shop", sim.url, "Main workshop", "Online order",
                     {**CREDENTIALS[platform], **credentials}, guess_statuses=True, timezone=ZONES[platform],
                     language="en" if platform == "cartum" else "")
    store = connect(spec)
    db.session.add(store)
    db.session.commit()
    return store


def imported(platform: str, sim, **credentials) -> int:
    """A store connected to ``sim`` whose initial import ran; its id. A WooCommerce store gets
    the webhook secret registering would give it."""
    store = connect_store(platform, sim, **credentials)
    if platform == "woocommerce":
        store.hook_secret = WOO_SECRET
    store_id, run_id = store.id, enqueue_initial_import(store).id
    work()
    assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED
    return store_id


def open_order(store_id: int) -> Order:
    return db.session.scalar(
        select(Order).join(Status, Order.status_id == Status.id).join(OrderItem)
        .where(Order.store_id == store_id, Order.written_off_at.is_(None),
               Status.group.not_in([StatusGroup.CLOSED_SUCCESS, StatusGroup.CLOSED_FAIL]))
        .order_by(Order.id).limit(1))


def change_quantity(platform: str, sim, external_id: str, quantity: int) -> None:
    if platform == "cartum":
        sim.control("POST", f"orders/{external_id}/quantity", json={"index": 0, "quantity": quantity})
        return
    line = sim.control("GET", f"orders/{external_id}")["line_items"][0]["id"]
    path = "line_items" if platform == "shopify" else "items"
    sim.control("POST", f"orders/{external_id}/{path}/{line}", json={"quantity": quantity})


def quantities(order_id: int) -> list[Decimal]:
    db.session.remove()
    return [item.quantity for item in db.session.get(Order, order_id).items]


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def delivery(platform: str, sim, external_id: str, *, key: str | None = None,
             new_headers: bool = False) -> tuple[str, bytes, dict]:
    """(method, body, headers) of the delivery the platform sends for the order as it is now."""
    body = json.dumps(sim.control("GET", f"orders/{external_id}")).encode()
    if platform == "shopify":
        prefix = "Shopify-" if new_headers else "X-Shopify-"
        return "POST", body, {f"{prefix}Topic": "orders/updated", f"{prefix}Webhook-Id": str(uuid.uuid4()),
                              f"{prefix}Hmac-Sha256": sign(SHOPIFY_SECRET if key is None else key, body),
                              f"{prefix}Shop-Domain": "sim.myshopify.com", "Content-Type": "application/json"}
    if platform == "woocommerce":
        return "POST", body, {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order",
                              "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
                              "X-WC-Webhook-Signature": sign(WOO_SECRET if key is None else key, body),
                              "Content-Type": "application/json"}
    return "PUT", body, {"Content-Type": "application/json"}  # Cartum signs nothing


def deliver(client, store_id: int, platform: str, message: tuple[str, bytes, dict], *, path_platform=None):
    method, body, headers = message
    token = db.session.get(Store, store_id).hook_token
    return client.open(f"/hooks/{token}/{path_platform or platform}", method=method, data=body, headers=headers)


def webhook_runs(store_id: int) -> list[SyncRun]:
    db.session.remove()
    return list(db.session.scalars(select(SyncRun).filter_by(store_id=store_id, kind=RunKind.WEBHOOK)
                                   .order_by(SyncRun.id)))


def log_lines(store_id: int, level: LogLevel) -> list[str]:
    db.session.remove()
    return list(db.session.scalars(select(SyncLogEntry.reason).filter_by(store_id=store_id, level=level)
                                   .order_by(SyncLogEntry.id)))


def deliveries_recorded(store_id: int) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count(WebhookDelivery.id)).filter_by(store_id=store_id))


# --- R-HOOK-1: a signed delivery brings the change, through one job -------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_1_a_signed_delivery_brings_the_change_once_its_job_ran(client, office, redis, platform):
    with serving(platform, orders=ORDERS) as sim:
        store_id = imported(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity(platform, sim, external_id, 9)

        body = delivery(platform, sim, external_id)
        calls = len(sim.control("GET", "requests"))
        response = deliver(client, store_id, platform, body)
        assert response.status_code == 200, response.get_data(as_text=True)
        # Verified, recorded, enqueued: the request never calls the shop, so it answers at once
        # (bench/webhooks.py measures how soon a change shows).
        assert len(sim.control("GET", "requests")) == calls
        assert "Set-Cookie" not in response.headers  # no session for a shop
        assert queue("hooks").job_ids == [f"hooks-{store_id}"]
        assert Decimal(9) not in quantities(order_id)  # the job brings it, not the request

        work()
        assert Decimal(9) in quantities(order_id)
        [run] = webhook_runs(store_id)
        assert run.state == RunState.SUCCEEDED, run.error
        assert run.expected == run.fetched == run.updated == 1
        feed = [entry.text for entry in db.session.get(Order, order_id).feed if entry.kind == FeedKind.SYSTEM]
        assert any("9" in text for text in feed)  # R-REL-4: the change is on the order's record
        assert log_lines(store_id, LogLevel.WEBHOOK) == [
            "Webhook: 1 order re-read from the shop after 1 delivery: 0 new, 1 changed, 0 unchanged."]
        assert fresh(Store, store_id).hook_received_at is not None


def test_R_HOOK_1_a_new_order_arrives_by_webhook_and_shopify_s_newer_header_names_are_accepted(
        client, office, redis):
    with serving("shopify", orders=ORDERS) as sim:
        store_id = imported("shopify", sim)
        new_id = str(sim.control("POST", "orders", json={"buyer": "new", "currency": "EUR"})["id"])
        message = delivery("shopify", sim, new_id, new_headers=True)
        method, body, headers = message
        headers = {name.lower(): value for name, value in headers.items()}  # HTTP/2 lowercases them
        assert deliver(client, store_id, "shopify", (method, body, headers)).status_code == 200
        work()
        assert db.session.scalar(select(Order).filter_by(store_id=store_id, external_id=new_id)) is not None
        assert webhook_runs(store_id)[0].created == 1


# --- R-HOOK-2: anything not signed for the store is refused, logged, and never a job --------


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_R_HOOK_2_a_wrong_signature_is_refused_logged_and_starts_nothing(client, office, redis, platform):
    with serving(platform, orders=ORDERS) as sim:
        store_id = imported(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity(platform, sim, external_id, 9)
        method, body, headers = delivery(platform, sim, external_id, key="not-the-secret")

        assert deliver(client, store_id, platform, (method, body, headers)).status_code == 401
        unsigned = {k: v for k, v in headers.items() if "Hmac" not in k and "Signature" not in k}
        assert deliver(client, store_id, platform, (method, body, unsigned)).status_code == 401
        tampered = delivery(platform, sim, external_id)
        tampered = (tampered[0], tampered[1].replace(b'"id"', b'"id" ', 1), tampered[2])  # the body changed on the way
        assert deliver(client, store_id, platform, tampered).status_code == 401

        assert queue("hooks").job_ids == [] and deliveries_recorded(store_id) == 0
        [line] = log_lines(store_id, LogLevel.REFUSED)  # one line for the run of refusals
        assert "wrong or missing signature was refused" in line
        assert "edit the store" in line or "save the store" in line  # what to do
        assert "not-the-secret" not in line and SHOPIFY_SECRET not in line and WOO_SECRET not in line
        work()
        assert Decimal(9) not in quantities(order_id) and webhook_runs(store_id) == []


def test_R_HOOK_2_unknown_addresses_other_platforms_and_deleted_stores_get_401(client, office, redis):
    with serving("shopify", orders=ORDERS) as sim:
        store_id = imported("shopify", sim)
        external_id = open_order(store_id).external_id
        message = delivery("shopify", sim, external_id)
        method, body, headers = message
        assert client.open("/hooks/no-such-token/shopify", method=method, data=body, headers=headers).status_code == 401
        assert deliver(client, store_id, "shopify", message, path_platform="woocommerce").status_code == 401
        assert deliver(client, store_id, "shopify", message, path_platform="nowhere").status_code == 401
        assert len(log_lines(store_id, LogLevel.REFUSED)) == 1  # the store is known: its log says so
        store = db.session.get(Store, store_id)
        store.deleted_at = utcnow()
        db.session.commit()
        assert deliver(client, store_id, "shopify", delivery("shopify", sim, external_id)).status_code == 401
        assert queue("hooks").job_ids == [] and deliveries_recorded(store_id) == 0


def test_R_HOOK_2_cartum_deliveries_are_proven_by_the_address_alone(client, office, redis):
    """Cartum signs nothing: the token in the address is its only proof."""
    with serving("cartum", orders=ORDERS) as sim:
        store_id = imported("cartum", sim)
        external_id = open_order(store_id).external_id
        method, body, headers = delivery("cartum", sim, external_id)
        assert client.open("/hooks/a-guessed-token/cartum", method=method, data=body,
                           headers=headers).status_code == 401
        assert deliver(client, store_id, "cartum", (method, body, headers)).status_code == 200
        assert queue("hooks").job_ids == [f"hooks-{store_id}"]


def test_R_HOOK_2_woocommerce_s_unsigned_creation_ping_gets_200_and_nothing_else(client, office, redis):
    with serving("woocommerce", orders=ORDERS) as sim:
        store_id = imported("woocommerce", sim)
        ping = ("POST", b"webhook_id=17", {"Content-Type": "application/x-www-form-urlencoded"})
        assert deliver(client, store_id, "woocommerce", ping).status_code == 200
        assert queue("hooks").job_ids == [] and deliveries_recorded(store_id) == 0
        assert log_lines(store_id, LogLevel.REFUSED) == []
        # Anything else unsigned is not a ping.
        fake = ("POST", b"webhook_id=17&id=5", {"Content-Type": "application/x-www-form-urlencoded"})
        assert deliver(client, store_id, "woocommerce", fake).status_code == 401


def test_R_HOOK_2_a_body_over_the_limit_gets_413(client, office, redis):
    with serving("cartum", orders=5) as sim:
        store_id = imported("cartum", sim)
        huge = ("PUT", b"{" + b" " * (3 * 1024 * 1024) + b"}", {"Content-Type": "application/json"})
        assert deliver(client, store_id, "cartum", huge).status_code == 413
        assert deliveries_recorded(store_id) == 0


def test_R_HOOK_2_with_redis_away_the_delivery_gets_503_and_its_retry_is_taken(app, client, office, redis):
    with serving("shopify", orders=ORDERS) as sim:
        store_id = imported("shopify", sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity("shopify", sim, external_id, 9)
        message = delivery("shopify", sim, external_id)
        working_redis = app.config["REDIS_URL"]
        app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
        app.extensions.pop("orderdock_redis", None)
        try:
            assert deliver(client, store_id, "shopify", message).status_code == 503
        finally:
            app.config["REDIS_URL"] = working_redis
            app.extensions.pop("orderdock_redis", None)
        assert deliveries_recorded(store_id) == 0  # so the shop's retry is not taken for a duplicate
        assert deliver(client, store_id, "shopify", message).status_code == 200
        work()
        assert Decimal(9) in quantities(order_id)


# --- R-HOOK-3: once only, and never backwards -----------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_3_the_same_delivery_twice_makes_one_change_and_one_job(client, office, redis, platform):
    with serving(platform, orders=ORDERS) as sim:
        store_id = imported(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity(platform, sim, external_id, 9)
        message = delivery(platform, sim, external_id)

        assert deliver(client, store_id, platform, message).status_code == 200
        assert deliver(client, store_id, platform, message).status_code == 200
        work()
        assert deliver(client, store_id, platform, message).status_code == 200  # a retry after all that
        assert queue("hooks").job_ids == []
        work()

        [run] = webhook_runs(store_id)
        assert run.updated == 1 and run.fetched == 1
        assert deliveries_recorded(store_id) == 1
        changes = [e for e in db.session.get(Order, order_id).feed if e.kind == FeedKind.SYSTEM and "9" in e.text]
        assert len(changes) == 1
        [line] = log_lines(store_id, LogLevel.WEBHOOK)
        assert "after 1 delivery" in line and "1 repeated delivery ignored" in line


@pytest.fixture
def live(app):
    """The app served on a loopback port, as the shops reach it (PUBLIC_BASE_URL)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.config["PUBLIC_BASE_URL"] = ""


def test_R_HOOK_3_two_copies_at_once_make_one_change_and_one_job(live, office, redis):
    with serving("woocommerce", orders=ORDERS) as sim:
        store_id = imported("woocommerce", sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity("woocommerce", sim, external_id, 9)
        _, body, headers = delivery("woocommerce", sim, external_id)
        url = f"{live}/hooks/{db.session.get(Store, store_id).hook_token}/woocommerce"
        start, answers = threading.Barrier(4), []

        def send():
            start.wait()
            answers.append(requests.post(url, data=body, headers=headers, timeout=10).status_code)

        senders = [threading.Thread(target=send) for _ in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=15)
        assert answers == [200] * 4
        assert deliveries_recorded(store_id) == 1 and queue("hooks").job_ids == [f"hooks-{store_id}"]
        work()
        [run] = webhook_runs(store_id)
        assert run.updated == 1 and Decimal(9) in quantities(order_id)
        assert "3 repeated deliveries ignored" in log_lines(store_id, LogLevel.WEBHOOK)[0]


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_R_HOOK_3_a_late_delivery_never_moves_the_order_back(client, office, redis, platform):
    with serving(platform, orders=ORDERS) as sim:
        store_id = imported(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity(platform, sim, external_id, 5)
        older = delivery(platform, sim, external_id)
        change_quantity(platform, sim, external_id, 7)
        newer = delivery(platform, sim, external_id)

        assert deliver(client, store_id, platform, newer).status_code == 200
        work()
        assert Decimal(7) in quantities(order_id)
        assert deliver(client, store_id, platform, older).status_code == 200  # arrives last
        work()
        assert Decimal(7) in quantities(order_id) and Decimal(5) not in quantities(order_id)


def test_R_HOOK_3_a_burst_of_deliveries_is_one_job(client, office, redis):
    with serving("woocommerce", orders=ORDERS) as sim:
        store_id = imported("woocommerce", sim)
        orders = db.session.scalars(select(Order).filter_by(store_id=store_id).order_by(Order.id).limit(5)).all()
        for order in orders:
            assert deliver(client, store_id, "woocommerce",
                           delivery("woocommerce", sim, order.external_id)).status_code == 200
        assert queue("hooks").job_ids == [f"hooks-{store_id}"]
        work()
        [run] = webhook_runs(store_id)
        assert run.expected == run.fetched == 5 and run.unchanged == 5
        assert "5 orders re-read from the shop after 5 deliveries" in log_lines(store_id, LogLevel.WEBHOOK)[0]


def test_R_HOOK_3_a_store_busy_with_a_long_import_keeps_the_orders_for_later(client, office, redis):
    with serving("shopify", orders=ORDERS) as sim:
        store_id = imported("shopify", sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity("shopify", sim, external_id, 9)
        assert deliver(client, store_id, "shopify", delivery("shopify", sim, external_id)).status_code == 200
        with store_lock(store_id) as held:  # a long import holds the store
            assert held is not None
            work()
        assert Decimal(9) not in quantities(order_id) and webhook_runs(store_id) == []
        assert f"hooks-{store_id}-later" in queue("hooks").scheduled_job_registry.get_job_ids()
        assert webhooks.has_pending(store_id)

        schedule.enqueue_due_stores()  # the tick (or the job scheduled for later) takes them
        work()
        assert Decimal(9) in quantities(order_id)
        assert not webhooks.has_pending(store_id)


def test_R_HOOK_3_a_failed_job_keeps_its_orders_pending(client, office, redis):
    with serving("shopify", orders=ORDERS) as sim:
        store_id = imported("shopify", sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        change_quantity("shopify", sim, external_id, 9)
        assert deliver(client, store_id, "shopify", delivery("shopify", sim, external_id)).status_code == 200
        sim.inject("401")
        work()
        [failed] = webhook_runs(store_id)
        assert failed.state == RunState.FAILED and webhooks.has_pending(store_id)
        store = db.session.get(Store, store_id)
        store.last_error_at = utcnow() - timedelta(minutes=6)  # the tick waits 5 minutes after a failure
        db.session.commit()
        schedule.enqueue_due_stores()
        work()
        assert Decimal(9) in quantities(order_id)
        assert "after 1 delivery" in log_lines(store_id, LogLevel.WEBHOOK)[0]


def test_R_HOOK_3_delivery_keys_are_kept_a_week(app, office, redis):
    store = factories.add(Store(platform="cartum", name="Old", url="https://old.example.com",
                                location=office.main, order_type=office.repair))
    db.session.add_all([WebhookDelivery(store_id=store.id, delivery_key="old", received_at=utcnow() - timedelta(days=8)),
                        WebhookDelivery(store_id=store.id, delivery_key="new", received_at=utcnow() - timedelta(days=6))])
    db.session.commit()
    assert retention.forget_old_deliveries() == 1
    assert db.session.scalars(select(WebhookDelivery.delivery_key)).all() == ["new"]


# --- R-HOOK-5: our own status push does not echo --------------------------------------------

MAPS = {
    "cartum": {"1": "New", "2": "Processing", "3": "Delivered", "4": "Cancelled", "6": "Shipping", "8": "Paid"},
    "woocommerce": {"pending": "New", "processing": "Processing", "on-hold": "On hold", "completed": "Completed",
                    "cancelled": "Cancelled", "refunded": "Cancelled", "failed": "Cancelled",
                    "checkout-draft": "New", "awaiting-shipment": "Shipping"},
}
OPEN = {"cartum": ("1", "2"), "woocommerce": ("processing",)}
TARGET = {"cartum": ("Paid", "8"), "woocommerce": ("On hold", "on-hold")}


def ours(name: str) -> int:
    return db.session.scalar(select(Status.id).filter_by(name=name))


def mapped_store(platform: str, sim) -> int:
    store_id = imported(platform, sim)
    store = db.session.get(Store, store_id)
    store.status_map = {theirs: ours(name) for theirs, name in MAPS[platform].items()}
    db.session.commit()
    return store_id


def pushable_order(store_id: int, platform: str) -> Order:
    query = (select(Order).where(Order.store_id == store_id, Order.written_off_at.is_(None),
                                 Order.platform_status.in_(OPEN[platform])).order_by(Order.id))
    return next(order for order in db.session.scalars(query) if order.items)


def set_status(client, order_id: int, name: str) -> None:
    g.pop("_login_user", None)
    response = post(client, f"/orders/{order_id}/status", {"status_id": ours(name)}, page=f"/orders/{order_id}")
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:300]


def feed_of(order_id: int) -> list[str]:
    db.session.remove()
    return [entry.text for entry in db.session.get(Order, order_id).feed]


@pytest.mark.parametrize("platform", ["cartum", "woocommerce"])
def test_R_HOOK_5_the_webhook_our_own_push_causes_changes_nothing(client, office, redis, platform):
    sign_in(client, "admin")
    with serving(platform, orders=ORDERS) as sim:
        store_id = mapped_store(platform, sim)
        order = pushable_order(store_id, platform)
        order_id, external_id = order.id, order.external_id
        name, theirs = TARGET[platform]
        set_status(client, order_id, name)
        work()  # the push: the shop now has it, and sends its webhook
        assert fresh(Order, order_id).platform_status == theirs
        before = feed_of(order_id)
        assert before[0].startswith("Status sent to")

        assert deliver(client, store_id, platform, delivery(platform, sim, external_id)).status_code == 200
        work()
        [run] = webhook_runs(store_id)
        assert run.state == RunState.SUCCEEDED and run.unchanged == 1 and run.updated == 0
        assert feed_of(order_id) == before  # no feed entry
        assert queue("push").job_ids == [] and fresh(Order, order_id).status_id == ours(name)  # no new push


def test_R_HOOK_5_an_echo_read_while_our_push_is_under_way_does_not_undo_a_newer_choice(client, office, redis):
    """The employee chose On hold, then Cancelled, while On hold was still being sent: the shop's
    webhook for On hold, read before that push is on record, must not put the order back."""
    sign_in(client, "admin")
    with serving("woocommerce", orders=ORDERS) as sim:
        store_id = mapped_store("woocommerce", sim)
        order = pushable_order(store_id, "woocommerce")
        order_id, external_id = order.id, order.external_id
        set_status(client, order_id, "On hold")
        sim.control("POST", f"orders/{external_id}/status", json={"status": "on-hold"})  # the push reached the shop
        underway = redis_client().lock(f"orderdock:push:{order_id}", timeout=60)  # ... and is not on record yet
        assert underway.acquire(blocking=False)
        set_status(client, order_id, "Cancelled")  # the employee's newer choice
        before = feed_of(order_id)

        assert deliver(client, store_id, "woocommerce", delivery("woocommerce", sim, external_id)).status_code == 200
        SimpleWorker([queue("hooks")], connection=redis_client()).work(burst=True)  # the webhook's job alone
        assert fresh(Order, order_id).status_id == ours("Cancelled")
        assert feed_of(order_id) == before

        underway.release()
        work()  # the pushes: the newest choice goes to the shop
        assert sim.control("GET", f"orders/{external_id}")["status"] == "cancelled"
        assert deliver(client, store_id, "woocommerce", delivery("woocommerce", sim, external_id)).status_code == 200
        work()
        order = fresh(Order, order_id)
        assert order.status_id == ours("Cancelled") and order.platform_status == "cancelled"
        assert not [text for text in feed_of(order_id) if text.startswith("Status changed on")]
        assert queue("push").job_ids == []


# --- R-HOOK-4: connecting registers, deleting removes, and the store page says which ---------

WIZARD_CREDENTIALS = {
    "cartum": {"credential_login": "manager", "credential_password": "cartum-demo"},
    "shopify": {"credential_access_token": "shpat_simulator", "credential_client_secret": SHOPIFY_SECRET},
    "woocommerce": {"credential_consumer_key": woo_sim.CONSUMER_KEY,
                    "credential_consumer_secret": woo_sim.CONSUMER_SECRET},
}
SIMULATOR = {"hook_retry_seconds": "0.2", "hook_flush_seconds": "0.2"}  # real schedules compressed


def wizard(client, world, platform: str, sim, **changes):
    """Both steps of the wizard through the pages; the response of saving step 2."""
    values = {"enabled": "y", "platform": platform, "name": f"My {platform} shop", "url": sim.url,
              "location_id": world.main.id, "order_type_id": world.repair.id, "identify_by": "name",
              "managers": "all", **WIZARD_CREDENTIALS[platform], **changes}
    values = {key: value for key, value in values.items() if value is not None}
    first = post(client, "/settings/stores/new", values)
    assert first.status_code == 302, first.get_data(as_text=True)[:500]
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    chosen = chosen_statuses(page)
    return post(client, first.headers["Location"], chosen)


def subscriptions(sim) -> list[dict]:
    return sim.control("GET", "webhooks")


def store_page(client, store_id: int) -> str:
    g.pop("_login_user", None)
    db.session.remove()
    return client.get(f"/settings/stores/{store_id}").get_data(as_text=True)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_4_connecting_registers_the_webhooks_and_deleting_the_store_removes_them(
        live, client, office, redis, platform):
    sign_in(client, "admin")
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        assert wizard(client, office, platform, sim).status_code == 302
        store = db.session.scalar(select(Store))
        store_id, address = store.id, f"{live}/hooks/{store.hook_token}/{platform}"
        assert f"webhooks-{store_id}" in queue("hooks").job_ids
        work()

        found = subscriptions(sim)
        assert sorted(s["topic"] for s in found) == sorted(ADAPTERS[platform].WEBHOOK_TOPICS)
        assert {s["url"] for s in found} == {address} and {s["status"] for s in found} == {"active"}
        store = fresh(Store, store_id)
        assert sorted(store.hook_ids) == sorted(str(s["id"]) for s in found) and store.hook_error is None
        if platform == "woocommerce":  # its ping on creation got our 200
            pings = [d for d in sim.control("GET", "webhooks/deliveries") if d["topic"] == "ping"]
            assert pings and {d["status_code"] for d in pings} == {200}
            assert store.hook_secret and store.hook_secret != WOO_SECRET
        assert f"Webhooks: registered ({len(found)})" in store_page(client, store_id)

        assert webhooks.register_later(store)  # saving the store again changes nothing on the shop
        work()
        assert sorted(s["id"] for s in subscriptions(sim)) == sorted(s["id"] for s in found)

        g.pop("_login_user", None)
        deleted = post(client, f"/settings/stores/{store_id}/delete", page=f"/settings/stores/{store_id}/delete")
        assert deleted.status_code == 302
        assert fresh(Store, store_id).credentials_encrypted != ""  # encrypted ({}), like every deleted store's
        assert fresh(Store, store_id).credentials == {} and fresh(Store, store_id).hook_secret == ""
        work()
        assert subscriptions(sim) == []


def test_R_HOOK_4_flask_stores_add_registers_too_and_a_new_address_replaces_the_old_ones(app, live, office, redis):
    with serving("woocommerce", orders=ORDERS, **SIMULATOR) as sim:
        result = app.test_cli_runner().invoke(args=[
            "stores", "add", "--platform", "woocommerce", "--name", "Woo", "--url", sim.url, "--location",
            "Main workshop", "--order-type", "Online order", "--guess-statuses", "--credential",
            f"consumer_key={woo_sim.CONSUMER_KEY}", "--credentials-from-stdin"],
            input=f"consumer_secret={woo_sim.CONSUMER_SECRET}\n")
        assert result.exit_code == 0, result.output
        assert "webhooks are being registered" in result.output
        store_id = db.session.scalar(select(Store.id))
        work()
        before = subscriptions(sim)
        assert len(before) == 2

        app.config["PUBLIC_BASE_URL"] = live + "/moved"  # the back office moved (a proxy's path, say)
        schedule.enqueue_due_stores()  # the tick sees them at the old address
        work()
        after = subscriptions(sim)
        token = fresh(Store, store_id).hook_token
        assert {s["url"] for s in after} == {f"{live}/moved/hooks/{token}/woocommerce"}
        assert not {s["id"] for s in after} & {s["id"] for s in before}


def test_R_HOOK_4_without_a_public_address_the_store_page_says_updates_come_by_polling(client, office, redis):
    sign_in(client, "admin")
    with serving("woocommerce", orders=ORDERS, **SIMULATOR) as sim:
        assert wizard(client, office, "woocommerce", sim).status_code == 302
        store_id = db.session.scalar(select(Store.id))
        assert f"webhooks-{store_id}" not in queue("hooks").job_ids
        work()
        assert subscriptions(sim) == []
        page = store_page(client, store_id)
        assert "Updates arrive by polling every 5 minutes." in page and "PUBLIC_BASE_URL" in page


def test_R_HOOK_4_shopify_without_the_client_secret_says_what_to_enter(live, client, office, redis):
    sign_in(client, "admin")
    with serving("shopify", orders=ORDERS, **SIMULATOR) as sim:
        assert wizard(client, office, "shopify", sim, credential_client_secret=None).status_code == 302
        store_id = db.session.scalar(select(Store.id))
        work()
        assert subscriptions(sim) == []
        page = store_page(client, store_id)
        assert "Updates arrive by polling every 5 minutes." in page
        assert "client secret" in page and "edit the store and enter it" in page


def test_R_HOOK_4_a_failed_registration_is_shown_with_what_to_do(live, client, office, redis):
    sign_in(client, "admin")
    with serving("woocommerce", orders=ORDERS, **SIMULATOR) as sim:
        store_id = connect_store("woocommerce", sim).id
        sim.inject("403")  # a key whose user may not manage webhooks
        assert webhooks.register_later(db.session.get(Store, store_id))
        work()
        store = fresh(Store, store_id)
        assert store.hook_error and "could not be registered" in store.hook_error
        page = store_page(client, store_id)
        assert "could not be registered" in page and "tried again within the hour" in page
        assert "Edit, Next, Save" in page
        assert any("could not be registered" in line for line in log_lines(store_id, LogLevel.ERROR))


# --- R-HOOK-1 through the simulators: the shop's own signed deliveries ----------------------


def registered(platform: str, sim, **credentials) -> int:
    store_id = imported(platform, sim, **credentials)
    assert webhooks.register_later(db.session.get(Store, store_id))
    work()
    assert len(subscriptions(sim)) == len(ADAPTERS[platform].WEBHOOK_TOPICS)
    return store_id


def delivered(sim, external_id: str, *, count: int = 1, flush: bool = False) -> list[dict]:
    """The shop's deliveries for the order that got an answer, once ``count`` have."""
    def answered():
        if flush:
            sim.control("POST", "webhooks/flush")
        rows = [d for d in sim.control("GET", "webhooks/deliveries", params={"order_id": external_id})
                if d["status_code"] is not None]
        return rows if len(rows) >= count else None
    return wait_until(answered, 15, f"the shop's webhook for order {external_id}")


def change_status(platform: str, sim, external_id: str) -> str:
    if platform == "cartum":
        new = 8 if sim.control("GET", f"orders/{external_id}")["stat_status"] != 8 else 2
        sim.control("POST", f"orders/{external_id}/status", json={"status": new})
        return str(new)
    new = "on-hold" if sim.control("GET", f"orders/{external_id}")["status"] != "on-hold" else "processing"
    sim.control("POST", f"orders/{external_id}/status", json={"status": new})
    return new


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_1_the_shop_s_own_webhook_brings_the_change(live, office, redis, platform):
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        if platform == "cartum":  # Cartum sends order_update for a status change
            new_status = change_status(platform, sim, external_id)
        else:
            change_quantity(platform, sim, external_id, 9)
        [answer, *_] = delivered(sim, external_id, flush=platform == "cartum")
        assert answer["status_code"] == 200
        work()
        if platform == "cartum":
            assert fresh(Order, order_id).platform_status == new_status
        else:
            assert Decimal(9) in quantities(order_id)
        assert webhook_runs(store_id)[-1].state == RunState.SUCCEEDED


# --- R-HOOK-6: the poll stays, catches what webhooks missed, and slows while they work ----


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_6_deliveries_the_shop_dropped_are_caught_by_the_next_poll(live, office, redis, platform):
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        sim.control("POST", "webhooks/faults", json={"kind": "drop", "count": 10})
        if platform == "cartum":
            new_status = change_status(platform, sim, external_id)
        else:
            change_quantity(platform, sim, external_id, 9)
        dropped = wait_until(lambda: [d for d in sim.control("GET", "webhooks/deliveries",
                                                              params={"order_id": external_id})
                                      if d["error"] == "dropped by fault"], 10, "the dropped delivery")
        assert dropped and queue("hooks").job_ids == []

        run_id = enqueue_sync(fresh(Store, store_id)).id  # the poll
        work()
        assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED
        if platform == "cartum":
            assert fresh(Order, order_id).platform_status == new_status
        else:
            assert Decimal(9) in quantities(order_id)


def test_R_HOOK_6_a_store_whose_webhooks_work_is_polled_every_WEBHOOK_POLL_MINUTES(app, client, office, redis):
    sign_in(client, "admin")
    store = factories.add(Store(platform="woocommerce", name="Woo", url="https://woo.example.com",
                                location=office.main, order_type=office.repair, import_state="done"))
    store_id, now = store.id, utcnow()
    factories.add(SyncRun(store_id=store_id, kind=RunKind.SCHEDULED, state=RunState.SUCCEEDED,
                          started_at=now - timedelta(minutes=10)))
    assert schedule._due(fresh(Store, store_id), now)  # no webhook yet: every 5 minutes

    store = fresh(Store, store_id)
    store.hook_received_at = now - timedelta(minutes=20)  # a verified delivery within the hour
    db.session.commit()
    assert not schedule._due(fresh(Store, store_id), now)
    assert schedule._due(fresh(Store, store_id), now + timedelta(minutes=21))
    assert "Syncing every 30 min" in store_page(client, store_id)
    app.config["WEBHOOK_POLL_MINUTES"] = 15
    assert schedule._due(fresh(Store, store_id), now + timedelta(minutes=6))
    assert not schedule._due(fresh(Store, store_id), now + timedelta(minutes=4))

    store = fresh(Store, store_id)
    store.hook_received_at = now - timedelta(minutes=61)  # none for an hour: back to every 5 minutes
    db.session.commit()
    assert schedule._due(fresh(Store, store_id), now)
    assert "Syncing every 5 min" in store_page(client, store_id)


# --- R-HOOK-2/3 with the shops' own faults: repeated, concurrent, forged, late deliveries ---


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
@pytest.mark.parametrize("fault", ["duplicate", "concurrent_duplicate"])
def test_R_HOOK_3_the_shop_sending_a_delivery_twice_makes_one_change(live, office, redis, platform, fault):
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        sim.control("POST", "webhooks/faults", json={"kind": fault, "count": 1})
        change_quantity(platform, sim, external_id, 9)
        answers = delivered(sim, external_id, count=2)
        assert [a["status_code"] for a in answers] == [200, 200]
        assert answers[0]["delivery_id"] == answers[1]["delivery_id"]
        work()
        assert Decimal(9) in quantities(order_id) and deliveries_recorded(store_id) == 1
        assert sum(run.updated for run in webhook_runs(store_id)) == 1
        changes = [e for e in db.session.get(Order, order_id).feed if e.kind == FeedKind.SYSTEM and "9" in e.text]
        assert len(changes) == 1


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_R_HOOK_2_a_delivery_the_shop_signed_wrong_is_refused_and_left_to_the_poll(live, office, redis, platform):
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        sim.control("POST", "webhooks/faults", json={"kind": "bad_signature", "count": 1})
        change_quantity(platform, sim, external_id, 9)
        [answer] = delivered(sim, external_id)
        assert answer["status_code"] == 401
        assert queue("hooks").job_ids == [] and len(log_lines(store_id, LogLevel.REFUSED)) == 1
        work()
        assert Decimal(9) not in quantities(order_id)
        enqueue_sync(fresh(Store, store_id))  # R-HOOK-6: the poll brings it
        work()
        assert Decimal(9) in quantities(order_id)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_R_HOOK_3_deliveries_sent_out_of_order_leave_the_newest_state(live, office, redis, platform):
    with serving(platform, orders=ORDERS, hook_update_on="any", **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        order = open_order(store_id)
        order_id, external_id = order.id, order.external_id
        sim.control("POST", "webhooks/faults", json={"kind": "out_of_order", "count": 1})
        change_quantity(platform, sim, external_id, 5)
        change_quantity(platform, sim, external_id, 7)
        delivered(sim, external_id, count=2, flush=platform == "cartum")
        work()
        assert Decimal(7) in quantities(order_id) and Decimal(5) not in quantities(order_id)


def test_R_HOOK_3_woocommerce_deliveries_sharing_an_id_within_a_second_are_both_taken(client, office, redis):
    """WooCommerce's delivery id is wp_hash(webhook id . second): two orders changed in one second
    (a bulk action) come with one id. Only the same bytes again are a repeat."""
    with serving("woocommerce", orders=ORDERS) as sim:
        store_id = imported("woocommerce", sim)
        first, second = db.session.scalars(select(Order).filter_by(store_id=store_id).order_by(Order.id).limit(2))
        shared = uuid.uuid4().hex
        messages = []
        for order in (first, second):
            method, body, headers = delivery("woocommerce", sim, order.external_id)
            messages.append((method, body, {**headers, "X-WC-Webhook-Delivery-ID": shared}))
        for message in (*messages, messages[0]):
            assert deliver(client, store_id, "woocommerce", message).status_code == 200
        assert deliveries_recorded(store_id) == 2
        work()
        [run] = webhook_runs(store_id)
        assert run.fetched == 2


@pytest.mark.parametrize("platform", ["cartum", "shopify"])
def test_R_HOOK_4_a_new_public_address_replaces_the_subscriptions_at_the_old_one(app, live, office, redis, platform):
    """Cartum cannot list subscriptions: ours are the ids kept, removed at the address they had."""
    with serving(platform, orders=ORDERS, **SIMULATOR) as sim:
        store_id = registered(platform, sim)
        before = {s["id"] for s in subscriptions(sim)}
        app.config["PUBLIC_BASE_URL"] = live + "/moved"
        schedule.enqueue_due_stores()
        work()
        after = subscriptions(sim)
        token = fresh(Store, store_id).hook_token
        assert {s["url"] for s in after} == {f"{live}/moved/hooks/{token}/{platform}"}
        assert len(after) == len(ADAPTERS[platform].WEBHOOK_TOPICS) and not before & {s["id"] for s in after}
        assert sorted(fresh(Store, store_id).hook_ids) == sorted(str(s["id"]) for s in after)


def test_R_HOOK_2_the_woocommerce_webhook_secret_is_encrypted_and_rotated_with_the_credentials(app, office):
    """Kept like the credentials (R-SEC-6): `flask secrets rotate` re-encrypts it too."""
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = old
    store = Store(platform="woocommerce", name="Woo", url="https://woo.example.com", location=office.main,
                  order_type=office.repair)
    store.credentials = {"consumer_key": "ck_1", "consumer_secret": "cs_1"}
    store.hook_secret = WOO_SECRET
    db.session.add(store)
    db.session.commit()
    assert WOO_SECRET not in fresh(Store, store.id).hook_secret_encrypted
    app.config["ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    app.config["ENCRYPTION_KEYS"] = new
    assert fresh(Store, store.id).hook_secret == WOO_SECRET
