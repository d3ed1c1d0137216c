"""The Shopify adapter against the Shopify simulator, through PlatformHttp on the real Redis.

Also two proofs about the simulator itself: the official ``ShopifyAPI`` client (PyPI) reads
orders from it, and two worker processes sharing one shop's budget through Redis never make
it answer 429 when its limit is exactly the adapter's rate.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from redis import Redis

from tests.support.pages import ids_with_fault_after_page
from tests.support.simulators import serving
from webapp.platforms.base import (
    AuthFailed, BadPayload, PlatformError, RateLimited, RepeatedPage, TruncatedPayload, Unreachable,
)
from webapp.platforms.http import REDIS_PREFIX, HttpSettings, PlatformHttp
from webapp.platforms.shopify import ShopifyPlatform, mapping

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "shpat_contract_5ecret_never_logged"
VERSION = "2026-07"
FAST = HttpSettings(connect_timeout=1.0, read_timeout=2.5, backoff=0.02, max_backoff=0.1,
                    max_retry_wait=3.0, short_retry_after=2.0, max_budget_wait=10.0)
UTC = timezone.utc


def adapter(sim, http, credentials=None, **options) -> ShopifyPlatform:
    return ShopifyPlatform(sim.url, credentials or {"access_token": TOKEN},
                           {"api_version": VERSION, **options}, http)


def fast(platform: ShopifyPlatform) -> ShopifyPlatform:
    """Error-mapping tests don't need the real 2/s budget; the budget has its own tests."""
    platform.RATE = "50/second"
    return platform


def every_order(platform, **kwargs) -> list:
    return [order for page in platform.iter_orders(**kwargs) for order in page.orders]


def api_calls(sim, suffix: str = "") -> list[dict]:
    return [r for r in sim.requests() if r["path"].startswith("/admin/") and r["path"].endswith(suffix)]


def sim_orders(sim) -> list[dict]:
    return sim.control("GET", "orders")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def http(redis):
    client = PlatformHttp(redis, FAST)
    yield client
    client.close()


@pytest.fixture(scope="module")
def big():
    """1,000 orders, read only: tests that change orders use ``small``."""
    with serving("shopify", orders=1000, seed=7, token=TOKEN) as sim:
        yield sim


@pytest.fixture(scope="module")
def shared_small():
    with serving("shopify", orders=60, seed=3, token=TOKEN) as sim:
        sim.app.extensions["sim_state"].timeout_seconds = 3.0  # > FAST.read_timeout
        yield sim


@pytest.fixture
def small(shared_small):
    """A 60-order shop, shared by the tests that change nothing but faults, bucket and plan:
    each starts with no queued fault, an empty bucket and request log, no extra limit.
    (One simulator per test would cost 0.5 s each to stop.) Its stats are cumulative."""
    sim = shared_small
    sim.control("POST", "bucket", json={"size": 40, "leak_rate": 2, "level": 0})
    sim.control("POST", "rate-limit", json={})
    sim.control("POST", "plan", json={"basic_plan": False})
    sim.control("DELETE", "requests")
    yield sim
    sim.app.extensions["sim_state"].faults.clear()  # a failed test must not leak its faults


def served(sim, counter: str = "faults_served") -> int:
    return sim.stats()[counter]


@pytest.fixture(scope="module")
def full_run(big, redis_url):
    """Every order of ``big``, read once by the adapter at the real 2/s budget."""
    client = Redis.from_url(redis_url)
    client.flushdb()
    http = PlatformHttp(client, FAST)
    big.control("DELETE", "requests")
    pages = list(adapter(big, http).iter_orders())
    yield pages, big.requests()
    http.close()
    client.close()


# --- connecting: R-CON-4 / R-CON-5 ----------------------------------------------------------

def test_R_CON_4_verify_checks_the_shop_and_the_orders_scope(small, http):
    adapter(small, http).verify()
    calls = api_calls(small)
    assert [c["path"] for c in calls] == [f"/admin/api/{VERSION}/shop.json",
                                          f"/admin/api/{VERSION}/orders/count.json"]
    assert calls[1]["query"] == {"status": ["any"]}


def test_R_CON_4_R_CON_8_wrong_token_is_auth_failed_and_no_token_is_logged(small, http, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "shpat_wrong_but_also_secret"
    with pytest.raises(AuthFailed) as caught:
        adapter(small, http, {"access_token": wrong}).verify()
    adapter(small, http).verify()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (wrong, TOKEN):
        assert secret not in logged and secret not in str(caught.value)
    assert "401" in caught.value.message and caught.value.code == "auth_failed"


def test_R_CON_4_missing_credentials_say_what_to_enter(small, http):
    with pytest.raises(AuthFailed, match="access token"):
        adapter(small, http, {"access_token": " "}).verify()
    assert api_calls(small) == []


def test_R_CON_5_statuses_cover_every_order(full_run):
    pages, _ = full_run
    seen = {order.status_id for page in pages for order in page.orders}
    listed = {status.id for status in mapping.STATUSES}
    assert seen <= listed
    assert {"cancelled", "refunded", "fulfilled", "partially_fulfilled", "paid", "pending"} <= seen


# --- paging ---------------------------------------------------------------------------------

def test_paging_1000_orders_via_link_has_no_gap_and_no_repeat(full_run, big):
    pages, _ = full_run
    ids = [order.external_id for page in pages for order in page.orders]
    assert len(ids) == len(set(ids)) == 1000
    assert set(ids) == {str(o["id"]) for o in sim_orders(big)}
    assert [len(page.orders) for page in pages] == [250, 250, 250, 250]
    assert all(page.checkpoint for page in pages[:-1]) and pages[-1].checkpoint is None


@pytest.fixture
def paged(big):
    yield big
    big.app.extensions["sim_state"].faults.clear()  # a failed test must not leak its faults


def test_R_REL_2_shopify_page_served_twice_loses_nothing(full_run, paged, http):
    """A cache answers the ``page_info`` request of page 2 with page 1 (its Link included): the
    adapter used to stop at "the same page link twice"; the shared guard asks again."""
    expected = [order.external_id for page in full_run[0] for order in page.orders]
    got = ids_with_fault_after_page(fast(adapter(paged, http)).iter_orders(), paged, "repeat")
    assert got == expected


def test_R_REL_2_shopify_page_served_again_beyond_the_retries_fails_loudly(paged, http):
    with pytest.raises(RepeatedPage) as caught:
        ids_with_fault_after_page(fast(adapter(paged, http)).iter_orders(), paged, "repeat",
                                  count=FAST.attempts)
    assert "cache" in caught.value.message and f"{paged.url}/admin/api/{VERSION}/" in caught.value.message


def test_R_REL_2_shopify_stale_answer_to_a_syncs_first_page_is_asked_again(paged, http):
    """A cache ignoring the query string answers a sync's first ``updated_at_min`` page with the
    previous ``orders.json`` answer (a re-read of old orders by id): not updated since the
    filter, so not this query's answer; asked again, nothing is missed."""
    shop = fast(adapter(paged, http, page_size="50"))
    since = datetime.now(UTC) - timedelta(days=10)
    expected = [order.external_id for order in every_order(shop, updated_since=since)]
    old = sorted(sim_orders(paged), key=lambda o: o["updated_at"])[:3]
    assert utc(old[-1]["updated_at"]) < since and 0 < len(expected) < 1000
    assert len(shop.fetch_orders([str(o["id"]) for o in old])) == 3
    paged.inject("repeat")
    assert [order.external_id for order in every_order(shop, updated_since=since)] == expected


def test_R_REL_2_shopify_stale_answer_to_a_re_read_by_ids_is_asked_again(paged, http):
    shop = fast(adapter(paged, http, page_size="50"))
    first = next(shop.iter_orders())
    wanted = sorted(str(o["id"]) for o in sim_orders(paged))[:2]
    assert not set(wanted) & {order.external_id for order in first.orders}
    paged.control("DELETE", "requests")
    paged.inject("repeat")
    assert sorted(order.external_id for order in shop.fetch_orders(wanted)) == wanted
    # Asked again at once; it used to follow the stale page's Link through the whole list.
    assert len(api_calls(paged, "/orders.json")) == 2


def test_R_REL_2_shopify_truncated_page_is_retried_and_orders_complete(full_run, paged, http):
    expected = [order.external_id for page in full_run[0] for order in page.orders]
    assert ids_with_fault_after_page(fast(adapter(paged, http)).iter_orders(), paged, "truncated") == expected


def test_first_request_carries_the_filters_and_later_ones_only_the_cursor(full_run):
    _, log = full_run
    calls = [r for r in log if r["path"] == f"/admin/api/{VERSION}/orders.json"]
    assert calls[0]["query"] == {"status": ["any"], "limit": ["250"]}
    # A busy machine may see a 429 from the bucket; its retry repeats the same request exactly.
    distinct = [call["query"] for index, call in enumerate(calls) if index == 0 or call["query"] != calls[index - 1]["query"]]
    assert len(distinct) == 4
    assert all(set(query) == {"page_info", "limit"} for query in distinct[1:])


def test_simulator_refuses_filters_next_to_page_info(big):
    headers = {"X-Shopify-Access-Token": TOKEN}
    first = requests.get(f"{big.url}/admin/api/{VERSION}/orders.json", params={"status": "any", "limit": 5},
                         headers=headers, timeout=5)
    cursor = first.links["next"]["url"].split("page_info=")[1].split("&")[0]
    again = requests.get(f"{big.url}/admin/api/{VERSION}/orders.json",
                         params={"page_info": cursor, "status": "any"}, headers=headers, timeout=5)
    assert again.status_code == 400
    assert again.json() == {"errors": {"status": "status cannot be passed when page_info is present."}}


def test_R_PRD_3_items_get_sku_product_id_description_and_category(full_run, big):
    pages, log = full_run
    products = {str(p["id"]): p for p in requests.get(
        f"{big.url}/admin/api/{VERSION}/products.json", params={"limit": 250},
        headers={"X-Shopify-Access-Token": TOKEN}, timeout=5).json()["products"]}
    items = [item for page in pages for order in page.orders for item in order.items]
    with_product = [item for item in items if item.product_id]
    assert with_product and len(with_product) < len(items)  # custom lines have no product
    for item in with_product:
        product = products[item.product_id]
        assert item.sku in {v["sku"] for v in product["variants"]}
        assert item.category_path == ((product["product_type"],) if product["product_type"] else ())
        assert item.description.startswith(f"The {product['title']} & friends.\n- Fits")
    assert any(item.sku == "" for item in with_product)  # variants without SKU stay ""
    product_calls = [r for r in log if r["path"].endswith("/products.json")]
    assert len(product_calls) == 1  # cached for the run; 24 products in one ids= batch
    assert product_calls[0]["query"]["fields"] == ["id,body_html,product_type"]


def test_R_CLI_2_returning_buyers_write_their_phone_differently(full_run):
    pages, _ = full_run
    phones = defaultdict(set)
    for order in (o for page in pages for o in page.orders if o.buyer and o.buyer.email):
        phones[order.buyer.email].add(order.buyer.phone)
    assert max(len(v) for v in phones.values()) >= 3


def test_R_ORD_7_R_DEL_1_currency_and_delivery_come_through(full_run, big):
    pages, _ = full_run
    orders = [o for page in pages for o in page.orders]
    assert {o.currency for o in orders} == {"EUR", "USD"}
    with_delivery = [o for o in orders if o.delivery]
    assert {o.delivery.method_name for o in with_delivery} >= {"Standard", "DHL Paket", "Free shipping"}
    assert {o.delivery.is_own_method for o in with_delivery} == {True, False}
    dhl = next(o for o in with_delivery if o.delivery.method_name == "DHL Paket")
    assert dhl.delivery.cost == Decimal("5.49") and dhl.delivery.recipient_address
    assert any(o.buyer is None and o.delivery is None for o in orders)  # POS-like sale
    assert any(o.buyer and not o.buyer.has_contact for o in orders)  # guest with a name only


# --- filters and checkpoints (R-IMP-2, R-IMP-3) ---------------------------------------------

def test_R_IMP_2_created_filter_returns_exactly_the_newer_orders(big, http):
    summaries = sim_orders(big)
    since = utc(summaries[0]["created_at"]) - timedelta(days=10)
    expected = {str(o["id"]) for o in summaries if utc(o["created_at"]) >= since}
    big.control("DELETE", "requests")
    got = every_order(adapter(big, http), created_since=since)
    assert {o.external_id for o in got} == expected and len(got) == len(expected)
    first = api_calls(big, "/orders.json")[0]["query"]
    assert first["created_at_min"] == [since.replace(microsecond=0).isoformat()]
    assert first["status"] == ["any"]


@pytest.fixture
def changing():
    with serving("shopify", orders=40, seed=4, token=TOKEN) as sim:
        yield sim


def test_R_IMP_3_R_IMP_4_R_DEL_2_updated_filter_returns_changed_orders(changing, http):
    small = changing
    mark = datetime.now(UTC).replace(microsecond=0)
    summaries = sim_orders(small)
    open_order = next(o for o in summaries if not o["cancelled_at"] and not o["closed_at"])
    full = small.control("GET", f"orders/{open_order['id']}")
    line = full["line_items"][0]
    small.control("POST", f"orders/{full['id']}/line_items/{line['id']}", json={"quantity": 7})
    to_cancel = next(o for o in summaries if not o["cancelled_at"] and o["id"] != full["id"])
    small.control("POST", f"orders/{to_cancel['id']}/state", json={"cancel": True})
    to_ship = next(o for o in summaries if o["id"] not in (full["id"], to_cancel["id"]))
    small.control("POST", f"orders/{to_ship['id']}/shipping",
                  json={"title": "Express", "price": "12.00", "address": {"address1": "New Street 1"}})
    added = small.control("POST", "orders", json={"buyer": "new"})

    got = {o.external_id: o for o in every_order(adapter(small, http), updated_since=mark)}
    assert set(got) == {str(full["id"]), str(to_cancel["id"]), str(to_ship["id"]), str(added["id"])}
    assert got[str(full["id"])].items[0].quantity == 7
    assert got[str(to_cancel["id"])].status_id == "cancelled"
    delivery = got[str(to_ship["id"])].delivery
    assert (delivery.method_name, delivery.cost) == ("Express", Decimal("12.00"))
    assert "New Street 1" in delivery.recipient_address
    assert got[str(added["id"])].status_id == "paid"


def test_checkpoint_resumes_after_the_page_with_the_first_runs_filters(small, http):
    since = utc(sim_orders(small)[-1]["created_at"]) + timedelta(seconds=1)  # all but the oldest
    first_run = adapter(small, http, page_size="20").iter_orders(created_since=since)
    page = next(first_run)
    first_run.close()  # the worker "dies" after committing this page and its checkpoint
    small.control("DELETE", "requests")
    rest = list(adapter(small, http, page_size="20").iter_orders(resume_from=page.checkpoint))
    ids = [o.external_id for o in page.orders] + [o.external_id for p in rest for o in p.orders]
    assert len(ids) == len(set(ids)) == 59
    calls = api_calls(small, "/orders.json")
    assert set(calls[0]["query"]) == {"page_info", "limit"} and calls[0]["query"]["limit"] == ["20"]


def test_R_ORD_3_fetch_orders_by_ids_in_batches(big, http):
    summaries = sim_orders(big)
    wanted = [str(o["id"]) for o in summaries[:260]]
    big.control("DELETE", "requests")
    got = adapter(big, http).fetch_orders(wanted[:2] + ["999", "not-an-id", wanted[0]] + wanted[2:])
    assert [o.external_id for o in got] == wanted
    calls = api_calls(big, "/orders.json")
    assert [len(c["query"]["ids"][0].split(",")) for c in calls] == [250, 11]  # with "999"
    assert all(c["query"]["status"] == ["any"] for c in calls)
    assert adapter(big, http).fetch_orders([]) == []


def test_R_CLI_3_basic_plan_gives_no_buyer(small, http):
    small.control("POST", "plan", json={"basic_plan": True})
    orders = every_order(adapter(small, http))
    raw = small.control("GET", "orders?full=1")
    assert len(orders) == 60 and all(o.buyer is None for o in orders)
    assert all(o.items for o in orders)
    shipped = [o for o in orders if o.delivery]
    assert shipped and all(o.delivery.method_name and o.delivery.recipient_address == "" for o in shipped)
    assert sum(1 for o in raw if o.get("customer")) >= 40  # the stored orders do have buyers


# --- faults ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, count, error", [
    ("401", 1, AuthFailed), ("403", 1, AuthFailed), ("500", 3, Unreachable), ("503", 3, Unreachable),
    ("timeout", 3, Unreachable), ("malformed", 3, TruncatedPayload), ("truncated", 3, TruncatedPayload),
    ("html", 1, BadPayload),
    ("404", 1, PlatformError),
])
def test_injected_fault_ends_in_its_typed_error(small, http, kind, count, error):
    before = served(small)
    small.inject(kind, count=count)
    with pytest.raises(error):
        every_order(fast(adapter(small, http)))
    assert served(small) - before == count


@pytest.mark.parametrize("kind", ["500", "502", "timeout", "malformed", "truncated"])
def test_transient_fault_is_retried_and_the_page_arrives(small, http, kind):
    before = served(small)
    small.inject(kind)
    assert len(every_order(fast(adapter(small, http)))) == 60
    assert served(small) - before == 1


def test_429_with_short_retry_after_is_waited_out(small, http):
    small.inject("429", retry_after=1)
    started = time.monotonic()
    assert len(every_order(fast(adapter(small, http)))) == 60
    assert time.monotonic() - started >= 1.0


def test_429_with_long_retry_after_is_rate_limited_and_pauses_the_shop(small, http, redis):
    small.inject("429", retry_after=30)
    platform = fast(adapter(small, http))
    with pytest.raises(RateLimited) as caught:
        platform.verify()
    assert caught.value.retry_after == 30
    assert redis.pttl(f"{REDIS_PREFIX}:pause:{platform.budget_key}") > 25_000


def test_simulator_leaky_bucket_answers_429_like_shopify(small):
    before = served(small, "rate_limited")
    small.control("POST", "bucket", json={"level": 40, "leak_rate": 2})
    response = requests.get(f"{small.url}/admin/api/{VERSION}/shop.json",
                            headers={"X-Shopify-Access-Token": TOKEN}, timeout=5)
    assert response.status_code == 429 and 0 < float(response.headers["Retry-After"]) <= 1
    assert response.headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
    assert "Exceeded 2 calls per second" in response.json()["errors"]
    assert served(small, "rate_limited") - before == 1


def test_nearly_full_call_limit_pauses_the_shops_shared_budget(small, http, redis):
    small.control("POST", "bucket", json={"level": 33, "leak_rate": 0.001})
    platform = adapter(small, http)
    platform.verify()  # answers 34/40, then 35/40
    pause = redis.pttl(f"{REDIS_PREFIX}:pause:{platform.budget_key}")
    assert 1_000 < pause <= 2_000  # (35 - 32 + 1) / 2 per second = 2 s


# --- client id and secret (A2) --------------------------------------------------------------

@pytest.fixture(scope="module")
def app_shop():
    """A shop with a Dev Dashboard app whose client id is new to this process's token cache."""
    client = {"client_id": f"id-{uuid.uuid4().hex}", "client_secret": "sim-client-secret"}
    with serving("shopify", orders=5, seed=2, token=TOKEN, token_ttl="2", **client) as sim:
        yield sim, client


def test_client_credentials_are_exchanged_and_renewed_before_expiry_and_after_a_401(app_shop, http):
    sim, client = app_shop
    platform = fast(adapter(sim, http, client))
    platform.verify()
    time.sleep(1.9)  # the 2 s token is renewed 0.2 s before it expires: no 401 needed
    platform.verify()
    sim.control("POST", "tokens/expire")  # revoked early: the 401 makes us renew once
    platform.verify()
    calls = [r["path"].rsplit("/", 1)[1] for r in sim.requests()]
    assert calls == ["access_token", "shop.json", "count.json"] * 2 + [
        "shop.json", "access_token", "shop.json", "count.json"]
    exchange = next(r for r in sim.requests() if r["path"] == "/admin/oauth/access_token")
    assert exchange["form"]["grant_type"] == ["client_credentials"]
    assert exchange["form"]["client_id"] == [client["client_id"]]


def test_wrong_client_secret_is_auth_failed(app_shop, http):
    sim, client = app_shop
    with pytest.raises(AuthFailed, match="client ID and secret"):
        adapter(sim, http, {**client, "client_secret": "wrong"}).verify()


# --- the official client, as its README shows it -------------------------------------------

def test_official_ShopifyAPI_client_lists_orders_from_the_simulator(small):
    shopify = pytest.importorskip("shopify", reason="the ShopifyAPI package is not installed")
    protocol = shopify.Session.protocol
    shopify.Session.protocol = "http"  # TOOLCHAIN.md: reach a loopback shop
    try:
        session = shopify.Session("orderdock-sim.myshopify.com", VERSION, TOKEN)
        session.url = small.url.split("://", 1)[1]
        shopify.ShopifyResource.activate_session(session)
        page = shopify.Order.find(status="any", limit=25)
        ids = [order.id for order in page]
        for _ in range(10):  # bounded: 60 orders are three pages
            if not page.has_next_page():
                break
            page = page.next_page()
            ids += [order.id for order in page]
        one = shopify.Order.find(ids[0])
        used, limit = shopify.Limits.credit_used(), shopify.Limits.credit_limit()
    finally:
        shopify.ShopifyResource.clear_session()
        shopify.Session.protocol = protocol
    assert ids == [o["id"] for o in sim_orders(small)] and len(ids) == 60
    assert one.name.startswith("#") and one.line_items
    assert limit == 40 and 1 <= used <= 40


# --- two processes share one shop's budget --------------------------------------------------

WORKER = """
import sys
from redis import Redis
from webapp.platforms.http import HttpSettings, PlatformHttp
from webapp.platforms.shopify import ShopifyPlatform
redis_url, url, token = sys.argv[1:4]
http = PlatformHttp(Redis.from_url(redis_url), HttpSettings(max_budget_wait=30))
shop = ShopifyPlatform(url, {"access_token": token}, {"page_size": "15"}, http)
print("ready", flush=True)
sys.stdin.readline()
seen = 0
for number, page in enumerate(shop.iter_orders(), 1):
    seen += len(page.orders)
    if number == 4:
        break
print("done", seen, flush=True)
"""


def test_two_worker_processes_share_the_budget_and_never_see_a_429(small, redis_url, redis):
    assert ShopifyPlatform.RATE == "2/second"
    before = served(small, "rate_limited")
    small.control("POST", "rate-limit", json={"requests": 2, "per_seconds": 1})
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, redis_url, small.url, TOKEN], cwd=ROOT,
                                text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
               for _ in range(2)]
    try:
        assert [w.stdout.readline().strip() for w in workers] == ["ready", "ready"]
        for worker in workers:  # start together so they compete for the budget
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [w.communicate(timeout=30)[0] for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [w.returncode for w in workers] == [0, 0] and all("done 60" in o for o in outputs)
    # Each worker alone sends at 2/s; without the shared budget the pair would send 4/s.
    assert len(api_calls(small)) >= 10 and served(small, "rate_limited") == before
