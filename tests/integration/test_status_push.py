"""Status push-back end to end (R-STA-1, R-STA-3, R-STA-4, pitfalls row 5): an employee's
status change through the order page, the push job on a real RQ worker, and each
platform's simulator on loopback, whose request log (``/_sim/requests``) says exactly
which status calls the shop received. Nothing of ours is mocked."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape

import pytest
from flask import g
from rq import SimpleWorker
from sqlalchemy import select

from simulators import woocommerce as woo_sim
from tests.integration.conftest import post, sign_in
from tests.support import factories
from tests.support.simulators import serving
from webapp.extensions import db, redis_client
from webapp.models import (
    FeedKind, LogLevel, Order, RunKind, RunState, Status, Store, SyncLogEntry, SyncRun,
)
from webapp.platforms import PLATFORMS
from webapp.platforms.base import RemoteOrder
from webapp.stores_cli import StoreSpec, connect
from webapp.sync import status_push
from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync
from webapp.sync.importer import import_orders
from webapp.sync.queues import QUEUES, queue
from webapp.views import orders as orders_view

CREDENTIALS = {
    "cartum": {"login": "manager", "password": "cartum-demo"},
    "shopify": {"access_token": "shpat_simulator"},
    "woocommerce": {"consumer_key": woo_sim.CONSUMER_KEY, "consumer_secret": woo_sim.CONSUMER_SECRET},
}
ZONES = {"cartum": "Europe/Kyiv", "shopify": "", "woocommerce": "Europe/Kyiv"}
# Platform status -> our status name. Not one-to-one, as real mappings are not: a push of
# "Cancelled" must pick one of several WooCommerce statuses.
MAPS = {
    "cartum": {"1": "New", "2": "Processing", "3": "Delivered", "4": "Cancelled", "6": "Shipping", "8": "Paid"},
    "woocommerce": {"pending": "New", "processing": "Processing", "on-hold": "On hold", "completed": "Completed",
                    "cancelled": "Cancelled", "refunded": "Cancelled", "failed": "Cancelled",
                    "checkout-draft": "New", "awaiting-shipment": "Shipping"},
    "shopify": {},
}
OPEN = {"cartum": ("1", "2"), "woocommerce": ("processing",), "shopify": None}


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """Retries at once (RQ re-queues a job whose interval is 0) and a looser request budget."""
    monkeypatch.setattr(status_push, "RETRY_INTERVALS", [0, 0, 0, 0])
    for platform in ("cartum", "woocommerce"):
        monkeypatch.setattr(PLATFORMS[platform], "RATE", "50/second")


@pytest.fixture
def office(named_office, client):
    """Our statuses named after the platforms', the imports' order type, an admin signed in."""
    sign_in(client, "admin")
    return named_office


# --- helpers --------------------------------------------------------------------------------


def work() -> None:
    SimpleWorker([queue(name) for name in QUEUES], connection=redis_client()).work(burst=True)


def fresh(model, ident):
    db.session.remove()  # see what the jobs committed
    return db.session.get(model, ident)


def ours(name: str) -> int:
    return db.session.scalar(select(Status.id).filter_by(name=name))


def imported_store(platform: str, sim) -> int:
    spec = StoreSpec(platform, f"{platform} shop", sim.url, "Main workshop", "Online order",
                     dict(CREDENTIALS[platform]), guess_statuses=True, timezone=ZONES[platform],
                     language="en" if platform == "cartum" else "")
    store = connect(spec)
    store.status_map = {theirs: ours(name) for theirs, name in MAPS[platform].items()}
    db.session.add(store)
    db.session.commit()
    store_id, run_id = store.id, enqueue_initial_import(store).id
    work()
    assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED
    return store_id


def an_open_order(store_id: int, platform: str) -> Order:
    """An imported order with items, not written off, in an open platform status."""
    query = select(Order).where(Order.store_id == store_id, Order.written_off_at.is_(None)).order_by(Order.id)
    if OPEN[platform]:
        query = query.where(Order.platform_status.in_(OPEN[platform]))
    return next(order for order in db.session.scalars(query) if order.items)


def page_post(client, url: str, data: dict | None = None):
    """POST from the order's page. The test's app context outlives requests, and Flask-Login
    keeps the signed-in employee in ``g``: ``fresh`` detached it, so it is loaded again."""
    g.pop("_login_user", None)
    page = url.rsplit("/", 1)[0]
    response = post(client, url, data, page=page)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    return response


def set_status(client, order_id: int, name: str):
    page_post(client, f"/orders/{order_id}/status", {"status_id": ours(name)})


def write_off(client, order_id: int):
    page_post(client, f"/orders/{order_id}/write-off")


def sent_statuses(sim, platform: str, external_id: str) -> list[str]:
    """The statuses the shop was asked to set on this order, in order (failed calls too)."""
    sent = []
    for call in sim.requests():
        body = call["json"] if isinstance(call["json"], dict) else {}
        if platform == "cartum" and call["path"].rstrip("/").endswith("orders/update"):
            sent += [str(c["status"]) for c in body.get("orders", []) if str(c.get("order_id")) == external_id]
        elif platform == "woocommerce" and call["method"] in ("PUT", "POST", "PATCH") \
                and call["path"].endswith(f"/orders/{external_id}"):
            sent.append(body.get("status"))
    return sent


def feed(order_id: int, kind: FeedKind | None = None) -> list[str]:
    order = fresh(Order, order_id)
    return [entry.text for entry in reversed(order.feed) if kind is None or entry.kind == kind]


def sync(store_id: int) -> None:
    run_id = enqueue_sync(fresh(Store, store_id)).id
    work()
    assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED


# --- R-STA-1: Cartum --------------------------------------------------------------------------


def test_R_STA_1_cartum_gets_the_mapped_status_once_per_change_and_reads_it_back_as_no_change(
        office, client, redis):
    with serving("cartum", orders=80) as sim:
        store_id = imported_store("cartum", sim)
        order = an_open_order(store_id, "cartum")
        order_id, external_id = order.id, order.external_id

        set_status(client, order_id, "Paid")
        set_status(client, order_id, "Paid")  # a second click: no change, no second job
        assert queue("push").job_ids == [f"push-{order_id}"]
        work()
        assert sent_statuses(sim, "cartum", external_id) == ["8"]
        assert fresh(Order, order_id).platform_status == "8"
        assert feed(order_id)[-1] == "Status sent to Cartum: Paid"

        # Two changes before the worker runs collapse into one call with the later status.
        set_status(client, order_id, "Shipping")
        set_status(client, order_id, "Processing")
        assert queue("push").job_ids == [f"push-{order_id}"]
        work()
        assert sent_statuses(sim, "cartum", external_id) == ["8", "2"]

        # Pitfalls row 5: the next sync reads our status back; no STATUS entry, no new push.
        statuses_before = feed(order_id, FeedKind.STATUS)
        sync(store_id)
        assert feed(order_id, FeedKind.STATUS) == statuses_before
        assert fresh(Order, order_id).status_id == ours("Processing")
        assert queue("push").job_ids == [] and sent_statuses(sim, "cartum", external_id) == ["8", "2"]


def test_R_STA_1_statuses_without_a_mapping_or_for_a_disabled_store_are_not_sent(office, client, redis):
    with serving("cartum", orders=40) as sim:
        store_id = imported_store("cartum", sim)
        order_id = an_open_order(store_id, "cartum").id

        set_status(client, order_id, "In progress")  # no Cartum status maps to it
        assert feed(order_id)[-1] == ('Not sent to Cartum: no Cartum status is mapped to "In progress". '
                                      "Map one in the store's settings to have it sent.")
        fresh(Store, store_id).enabled = False
        db.session.commit()
        set_status(client, order_id, "Paid")
        assert queue("push").job_ids == []
        work()
        assert [c for c in sim.requests() if c["path"].rstrip("/").endswith("orders/update")] == []


# --- R-STA-3: WooCommerce, and Completed after the write-off ----------------------------------


def test_R_STA_3_woocommerce_gets_completed_only_after_the_write_off(office, client, redis):
    with serving("woocommerce", orders=60) as sim:
        store_id = imported_store("woocommerce", sim)
        order = an_open_order(store_id, "woocommerce")
        order_id, external_id = order.id, order.external_id

        set_status(client, order_id, "On hold")
        work()
        assert sent_statuses(sim, "woocommerce", external_id) == ["on-hold"]

        set_status(client, order_id, "Completed")
        assert feed(order_id)[-1] == "Not set to Completed on WooCommerce until the products are written off."
        assert queue("push").job_ids == []
        # A sync meanwhile reads the unchanged "on-hold": it must not undo our Completed.
        sync(store_id)
        assert fresh(Order, order_id).status_id == ours("Completed")
        assert sent_statuses(sim, "woocommerce", external_id) == ["on-hold"]

        write_off(client, order_id)
        work()
        assert sent_statuses(sim, "woocommerce", external_id) == ["on-hold", "completed"]
        assert sim.control("GET", f"orders/{external_id}")["status"] == "completed"
        assert feed(order_id)[-1] == "Status sent to WooCommerce: Completed"

        statuses_before = feed(order_id, FeedKind.STATUS)
        sync(store_id)
        assert feed(order_id, FeedKind.STATUS) == statuses_before
        assert queue("push").job_ids == [] and len(sent_statuses(sim, "woocommerce", external_id)) == 2


def test_R_STA_3_a_written_off_order_sends_completed_at_once(office, client, redis):
    with serving("woocommerce", orders=40) as sim:
        store_id = imported_store("woocommerce", sim)
        order = an_open_order(store_id, "woocommerce")
        order_id, external_id = order.id, order.external_id
        write_off(client, order_id)
        assert queue("push").job_ids == []  # its status is on WooCommerce already
        set_status(client, order_id, "Completed")
        work()
        assert sent_statuses(sim, "woocommerce", external_id) == ["completed"]


# --- R-STA-4: Shopify -------------------------------------------------------------------------


def test_R_STA_4_shopify_gets_no_status_call_and_keeps_our_status(office, client, redis):
    with serving("shopify", orders=40) as sim:
        store_id = imported_store("shopify", sim)
        order = an_open_order(store_id, "shopify")
        order_id = order.id
        sim.control("DELETE", "requests")

        set_status(client, order_id, "Paid")
        write_off(client, order_id)
        assert queue("push").job_ids == []
        work()
        sync(store_id)
        assert [c for c in sim.requests() if c["method"] != "GET"] == []
        assert fresh(Order, order_id).status_id == ours("Paid")
        assert not [text for text in feed(order_id) if "Shopify" in text]  # nothing to explain


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["cartum", "woocommerce"])
def test_R_STA_1_R_STA_3_a_refused_password_ends_in_the_feed_the_store_log_and_on_the_store(
        office, client, redis, platform):
    with serving(platform, orders=40) as sim:
        store_id = imported_store(platform, sim)
        order = an_open_order(store_id, platform)
        order_id, number, before = order.id, order.platform_number, order.platform_status
        title = PLATFORMS[platform].title
        set_status(client, order_id, "Cancelled")
        sim.inject("401", count=2)  # Cartum signs in again once after a refused token
        work()
        sim.control("DELETE", "faults")

        text = feed(order_id)[-1]
        assert text.startswith(f"Could not set the status on {title}: ") and "Edit the store" in text
        [entry] = db.session.scalars(select(SyncLogEntry).filter_by(store_id=store_id, level=LogLevel.FAILED))
        assert entry.platform_number == number and entry.reason.endswith(text)
        store, order = db.session.get(Store, store_id), db.session.get(Order, order_id)
        assert store.last_error == text and store.last_error_at is not None
        assert order.platform_status == before and order.status_id == ours("Cancelled")


def test_R_STA_3_a_shop_error_is_retried_until_the_status_is_set(office, client, redis):
    with serving("woocommerce", orders=40) as sim:
        store_id = imported_store("woocommerce", sim)
        order = an_open_order(store_id, "woocommerce")
        order_id, external_id = order.id, order.external_id
        set_status(client, order_id, "On hold")
        sim.inject("503", count=3)  # the HTTP layer's three attempts of the first run
        work()

        # The retry first re-reads the order (a lost answer may hide a done push), then sends.
        assert sent_statuses(sim, "woocommerce", external_id) == ["on-hold"] * 4
        calls = [c["method"] for c in sim.requests() if c["path"].endswith(f"/orders/{external_id}")
                 or external_id in c["query"].get("include", [""])[0].split(",")]
        assert calls[-5:] == ["PUT", "PUT", "PUT", "GET", "PUT"]
        assert feed(order_id)[-1] == "Status sent to WooCommerce: On hold"
        assert fresh(Order, order_id).platform_status == "on-hold"
        assert db.session.scalar(select(SyncLogEntry).filter_by(store_id=store_id, level=LogLevel.FAILED)) is None


def test_R_STA_1_a_shop_that_keeps_failing_gives_up_after_the_last_retry(office, client, redis):
    with serving("cartum", orders=40) as sim:
        store_id = imported_store("cartum", sim)
        order = an_open_order(store_id, "cartum")
        order_id, external_id = order.id, order.external_id
        set_status(client, order_id, "Paid")
        sim.inject("503", count=100)
        work()
        sim.control("DELETE", "faults")

        tries = len(status_push.RETRY_INTERVALS) + 1
        assert feed(order_id)[-1].startswith("Could not set the status on Cartum: Could not reach 127.0.0.1")
        assert f"tried {tries} times. Set it on Cartum by hand" in feed(order_id)[-1]
        assert db.session.scalar(select(SyncLogEntry).filter_by(store_id=store_id, level=LogLevel.FAILED))
        assert fresh(Store, store_id).last_error is None  # the shop is down, not the store's settings
        assert fresh(Order, order_id).platform_status != "8"

        set_status(client, order_id, "Paid")  # choosing it again sends it again
        work()
        assert sent_statuses(sim, "cartum", external_id)[-1] == "8"
        assert fresh(Order, order_id).platform_status == "8"


# --- the importer's side: no echo, NULL means "not known" -------------------------------------


def remote(status_id: str) -> RemoteOrder:
    moment = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    return RemoteOrder(external_id="77", number="77", created_at=moment, updated_at=moment,
                       status_id=status_id, currency="EUR")


def test_R_STA_2_only_a_status_changed_on_the_platform_is_applied_and_null_means_not_known(office):
    store = factories.add(Store(platform="cartum", name="Cartum", url="https://shop.example", location=office.main,
                                order_type=office.repair,
                                status_map={"1": ours("New"), "2": ours("Processing"), "8": ours("Paid")}))

    def reimport(status_id: str) -> Order:
        run = factories.add(SyncRun(store_id=store.id, kind=RunKind.MANUAL))
        import_orders(store, run, [remote(status_id)])
        db.session.commit()
        return db.session.scalar(select(Order).filter_by(store_id=store.id, external_id="77"))

    order = reimport("1")
    assert order.platform_status == "1" and order.status_id == ours("New")
    order.change_status(db.session.get(Status, ours("Paid")), None)  # ours, not pushed
    db.session.commit()
    assert reimport("1").status_id == ours("Paid")  # unchanged on the platform: ours stands
    assert reimport("2").status_id == ours("Processing")  # changed there: applied
    order.platform_status = None  # imported before the column existed
    order.change_status(db.session.get(Status, ours("Paid")), None)
    db.session.commit()
    order = reimport("2")
    assert order.status_id == ours("Processing") and order.platform_status == "2"


# --- the outcome on the order page, without a reload (issue 12) --------------------------------


def test_R_STA_1_the_push_outcome_appears_on_the_order_page_without_a_reload(office, client, redis):
    """After "Change status" the order part says the status is on its way to the shop and asks
    again every second; once the push job is done, the answer stops the polling (286) and brings
    what the job wrote: the outcome beside the status, and the feed's entries (out of band, so a
    comment being typed is kept). The polling is bounded: past its last try it stops and says
    the feed will tell. A reload while the push waits shows the same poller."""
    with serving("woocommerce", orders=40) as sim:
        store_id = imported_store("woocommerce", sim)
        order_id = an_open_order(store_id, "woocommerce").id
        url = f"/orders/{order_id}"
        g.pop("_login_user", None)
        answer = post(client, f"{url}/status", {"status_id": ours("On hold")}, page=url, headers={"HX-Request": "true"})
        html = answer.get_data(as_text=True)
        poller = re.search(r'<p id="push-state"[^>]*hx-get="([^"]+)" hx-trigger="every 1s"[^>]*>\s*'
                           r"Sending the status to WooCommerce…", html)
        assert poller, html[:800]
        poll = unescape(poller.group(1))
        assert poll.startswith(f"{url}/push?")
        assert 'id="push-state"' in client.get(url).get_data(as_text=True)  # a reload keeps watching

        waiting = client.get(poll, headers={"HX-Request": "true"})
        assert waiting.status_code == 200 and 'hx-trigger="every 1s"' in waiting.get_data(as_text=True)
        last = re.sub(r"n=\d+", f"n={orders_view.PUSH_POLLS}", poll)
        given_up = client.get(last, headers={"HX-Request": "true"})
        assert given_up.status_code == 286 and "the feed below will say" in given_up.get_data(as_text=True)

        work()
        g.pop("_login_user", None)
        done = client.get(poll, headers={"HX-Request": "true"})
        text = done.get_data(as_text=True)
        assert done.status_code == 286 and "every 1s" not in text
        assert re.search(r'<p id="push-state"[^>]*>\s*Status sent to WooCommerce: On hold\s*</p>', text), text[:600]
        feed_part = re.search(r'<ol id="feed-entries"[^>]*hx-swap-oob="true"[^>]*>(.*?)</ol>', text, re.S)
        assert feed_part and "Status sent to WooCommerce: On hold" in feed_part.group(1)
