"""The WooCommerce adapter against the WooCommerce simulator: the contract ``sync/`` relies on.

Real loopback HTTP over plain http (so every request is OAuth 1.0a-signed and the simulator
recomputes the signature), the real shared HTTP layer and a real Redis for the request
budget. Tests read the simulator's request log to check what was actually sent. The last
part proves the simulator against the official ``woocommerce`` client (wc-api-python).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_TYPE_QUERY
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1
from woocommerce import API

from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.pages import ids_with_fault_after_page
from tests.support.simulators import serving
from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, NotFound, RateLimited, Rejected, RepeatedPage,
    TruncatedPayload, Unreachable,
)
from webapp.platforms.http import HttpSettings, PlatformHttp
from webapp.platforms.woocommerce import WooCommercePlatform
from webapp.platforms.woocommerce.client import WooClient, error_for

UTC = timezone.utc
ORDERS = "/wp-json/wc/v3/orders"
FAST = HttpSettings(connect_timeout=1.0, read_timeout=2.5, attempts=3, backoff=0.02, max_backoff=0.1,
                    max_retry_wait=2.0, short_retry_after=1.5, max_budget_wait=3.0)


@pytest.fixture
def http(redis):
    client = PlatformHttp(redis, FAST)
    yield client
    client.close()


def connect(sim, http, *, key: str = CONSUMER_KEY, secret: str = CONSUMER_SECRET,
            **options) -> WooCommercePlatform:
    shop = WooCommercePlatform(sim.url, {"consumer_key": key, "consumer_secret": secret}, options, http)
    shop.RATE = "500/second"  # the real budget is the shared layer's business, tested there
    return shop


def woo_sim(orders: int = 60, **options):
    # basic_auth=0: a plain-http store, where WooCommerce accepts nothing but OAuth 1.0a.
    return serving("woocommerce", orders=orders, **{"basic_auth": 0, **options})


@pytest.fixture(scope="module")
def shared_shop():
    # One shop for the module (each simulator costs half a second to shut down). Tests that
    # change data use orders they add themselves.
    with woo_sim() as running:
        running.app.extensions["sim_state"].timeout_seconds = 3.0  # a "timeout" fault sleeps this long (> FAST.read_timeout)
        yield running


@pytest.fixture
def sim(shared_shop):
    state = shared_shop.app.extensions["sim_state"]
    with state.lock:
        state.faults.clear()
        state.rate_limit = None
        state.calls.clear()
    shared_shop.control("DELETE", "requests")
    return shared_shop


@pytest.fixture(scope="module")
def big_shop():
    with woo_sim(orders=1000) as running:
        yield running


@pytest.fixture
def big(big_shop):
    big_shop.control("DELETE", "requests")
    return big_shop


def add_order(sim, **body) -> dict:
    return sim.control("POST", "orders", json=body)["orders"][-1]


def listed(sim) -> list[dict]:
    """The simulator's orders that the adapter should return: drafts and trash left out."""
    return [o for o in sim.control("GET", "orders") if o["status"] not in ("trash", "checkout-draft")]


def gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every_order(shop, **filters) -> list:
    return [order for page in shop.iter_orders(**filters) for order in page.orders]


def api_calls(sim, path: str = ORDERS, method: str = "GET") -> list[dict]:
    return [r for r in sim.requests() if r["path"] == path and r["method"] == method]


def arg(request: dict, name: str) -> str | None:
    values = request["query"].get(name)
    return values[-1] if values else None


# --- connecting (R-CON-4) ---------------------------------------------------------------------


def test_R_CON_4_good_key_verifies_by_reading_and_probing_write_with_oauth(sim, http):
    connect(sim, http).verify()
    log = sim.requests()
    assert [(r["method"], r["path"]) for r in log] == [("GET", ORDERS), ("PUT", f"{ORDERS}/0")]
    assert arg(log[0], "per_page") == "1" and log[1]["json"] == {}
    for request in log:  # OAuth 1.0a in the query string; the secret itself never travels
        assert arg(request, "oauth_signature_method") == "HMAC-SHA1" and arg(request, "oauth_signature")
        assert arg(request, "oauth_consumer_key") == CONSUMER_KEY and "consumer_secret" not in request["query"]
        assert CONSUMER_SECRET not in str(request)


@pytest.mark.parametrize("key, secret", [(CONSUMER_KEY, "cs_wrong"), ("ck_unknown", CONSUMER_SECRET)])
def test_R_CON_4_wrong_key_or_secret_is_auth_failed(sim, http, key, secret):
    with pytest.raises(AuthFailed) as caught:
        connect(sim, http, key=key, secret=secret).verify()
    assert "Read/Write" in caught.value.message and secret not in caught.value.message
    assert len(sim.requests()) == 1  # not retried: a refused key does not get better


def test_R_CON_4_empty_credentials_are_refused_before_any_request(sim, http):
    with pytest.raises(AuthFailed, match="consumer key and consumer secret"):
        connect(sim, http, secret=" ").verify()
    assert sim.requests() == []


def test_R_CON_4_read_only_key_reads_but_is_refused_at_connect_and_push(http):
    with woo_sim(orders=5, permissions="read") as sim:
        shop = connect(sim, http)
        assert every_order(shop)  # reading works
        with pytest.raises(AuthFailed, match="can only read"):
            shop.verify()
        with pytest.raises(AuthFailed, match="Read/Write"):
            shop.push_status(every_order(shop)[0].external_id, "completed")


@pytest.mark.parametrize("option", ["no_api", "plain_permalinks"])
def test_R_CON_4_store_without_a_reachable_rest_api_says_what_to_check(http, option):
    with woo_sim(orders=1, **{option: 1}) as sim:
        with pytest.raises(ApiNotAvailable) as caught:
            connect(sim, http).verify()
    assert "Permalinks" in caught.value.message and "WooCommerce is active" in caught.value.message


# --- statuses (R-CON-5) -----------------------------------------------------------------------


def test_R_CON_5_statuses_are_read_live_with_custom_ones_and_trash(sim, http):
    statuses = {s.id: s.name for s in connect(sim, http).statuses()}
    assert statuses["pending"] == "Pending payment" and statuses["awaiting-shipment"] == "Awaiting shipment"
    assert {"processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"} <= set(statuses)
    assert "checkout-draft" not in statuses
    assert [r["path"] for r in sim.requests()] == ["/wp-json/wc/v3/reports/orders/totals"]


def test_R_CON_5_without_the_report_route_the_core_statuses_are_offered(http):
    with woo_sim(orders=1, reports=0) as sim:
        ids = [s.id for s in connect(sim, http).statuses()]
    assert ids == ["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"]


# --- listing and paging -----------------------------------------------------------------------


def test_paging_through_1000_orders_has_no_gap_and_no_repeat(big, http):
    pages = list(connect(big, http).iter_orders())
    got = [o.external_id for page in pages for o in page.orders]
    expected = [str(o["id"]) for o in sorted(listed(big), key=lambda o: (o["date_created_gmt"], o["id"]))]
    assert got == expected and len(set(got)) == len(got) > 900
    assert all(p.checkpoint for p in pages[:-1]) and pages[-1].checkpoint is None
    calls = api_calls(big)
    assert len(calls) == len(pages) <= 11
    assert all(arg(c, "per_page") == "100" and arg(c, "order") == "asc" and arg(c, "dates_are_gmt") == "true"
               for c in calls)
    # products and the category tree are read once per run, not once per page
    assert len(api_calls(big, "/wp-json/wc/v3/products")) == 1
    assert len(api_calls(big, "/wp-json/wc/v3/products/categories")) == 1


def test_seeded_orders_reach_sync_with_what_it_needs_to_apply_the_rules(big, http):
    orders = every_order(connect(big, http))
    assert any(o.buyer is None for o in orders)  # guests: R-IMP-5 skips them
    assert any(o.buyer and not o.buyer.has_contact for o in orders)
    assert any(o.buyer and o.buyer.email and not o.buyer.phone for o in orders)
    assert any(o.buyer and o.buyer.phone and not o.raw["billing"]["phone"] for o in orders)  # R-CLI-4
    assert any(not o.items for o in orders) and any(o.currency == "USD" for o in orders)  # R-IMP-5, R-ORD-7
    assert {o.status_id for o in orders} >= {"pending", "processing", "completed", "awaiting-shipment"}
    items = {i.sku: i for o in orders for i in o.items}
    assert items["SM-A556B"].category_path == ("Phones", "Smartphones", "Android")  # R-PRD-6 one chain
    assert items["BNDL-CC"].category_path == ("Phones", "Accessories", "Cases")  # same level
    assert items["LCD-IP13"].category_path == ("Sale",)  # different levels
    assert items["CASE-BLK"].product_id == "1121" and items["BNDL-CC"].name == "Case & charger bundle"
    assert items["SM-A556B"].description.startswith("Galaxy A55 5G: in stock")
    assert "" in items and items[""].product_id in ("110", "199")  # no SKU, or a deleted product
    assert all(o.delivery is None for o in orders)  # R-DEL-4


def test_R_IMP_2_created_since_asks_the_store_for_recent_orders_only(big, http):
    since = (datetime.now(UTC) - timedelta(days=60)).replace(microsecond=0)
    got = [o.external_id for o in every_order(connect(big, http), created_since=since)]
    expected = [str(o["id"]) for o in sorted(listed(big), key=lambda o: (o["date_created_gmt"], o["id"]))
                if gmt(o["date_created_gmt"]) >= since]
    assert got == expected and 0 < len(got) < 900
    first = api_calls(big)[0]
    assert arg(first, "after") == (since - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert arg(first, "orderby") == "date" and arg(first, "dates_are_gmt") == "true"


def test_checkpoint_resumes_after_a_killed_worker_without_gap_or_repeat(big, http):
    full = [o.external_id for o in every_order(connect(big, http))]
    first_run, checkpoint = [], None
    for number, page in enumerate(connect(big, http).iter_orders(), start=1):
        first_run += [o.external_id for o in page.orders]
        checkpoint = page.checkpoint
        if number == 3:
            break  # the worker dies here, after committing page 3 and its checkpoint
    resumed = [o.external_id for o in every_order(connect(big, http), resume_from=checkpoint)]
    assert first_run + resumed == full


def test_orders_created_in_one_second_across_pages_come_once_each(sim, http):
    moment = (datetime.now(UTC) - timedelta(days=400)).replace(microsecond=0)
    added = sim.control("POST", "orders", json={"count": 250, "created": moment.isoformat()})["ids"]
    since = moment - timedelta(seconds=5)
    got = [o.external_id for o in every_order(connect(sim, http), created_since=since)]
    assert sorted(got[:250]) == sorted(map(str, added)) and len(set(got)) == len(got)
    assert got[250:] == [o.external_id for o in every_order(connect(sim, http), created_since=moment)][250:]
    asked = [(arg(c, "after"), arg(c, "page")) for c in api_calls(sim)[:4]]
    at = (moment - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    # a whole page in one second: the same query's next page, the seen ids filtered out
    assert asked == [((since - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S"), "1"),
                     (at, "1"), (at, "2"), (at, "3")]


def test_updated_since_returns_changed_orders_and_the_trashed_ones(sim, http):
    a, b, c = (add_order(sim, created=(datetime.now(UTC) - timedelta(days=3)).isoformat()) for _ in range(3))
    since = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.01)  # the changes below land at least one second after ``since``
    sim.control("POST", f"orders/{a['id']}/status", json={"status": "on-hold"})
    sim.control("POST", f"orders/{b['id']}/items/{b['line_items'][0]['id']}", json={"quantity": 5})
    sim.control("POST", f"orders/{c['id']}/status", json={"status": "trash"})
    sim.control("DELETE", "requests")
    orders = {o.external_id: o for o in every_order(connect(sim, http), updated_since=since)}
    assert orders[str(a["id"])].status_id == "on-hold"
    assert orders[str(b["id"])].items[0].quantity == 5  # R-IMP-4 needs the new quantity
    assert orders[str(c["id"])].status_id == "trash"
    expected = {str(o["id"]) for o in sim.control("GET", "orders")
                if gmt(o["date_modified_gmt"]) >= since and o["status"] != "checkout-draft"}
    assert set(orders) == expected and all(o.updated_at >= since for o in orders.values())
    calls = api_calls(sim)
    assert arg(calls[0], "modified_after") == (since - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert arg(calls[0], "orderby") == "modified" and arg(calls[0], "status") is None
    assert arg(calls[-1], "status") == "trash"


def test_fetch_orders_by_ids_includes_trashed_and_leaves_out_missing(sim, http):
    kept, trashed = add_order(sim), add_order(sim, status="trash")
    orders = connect(sim, http).fetch_orders([str(kept["id"]), str(trashed["id"]), "999999", "not-an-id"])
    assert sorted(o.external_id for o in orders) == sorted([str(kept["id"]), str(trashed["id"])])
    calls = api_calls(sim)
    assert [sorted(arg(c, "include").split(",")) for c in calls] == [
        sorted([str(kept["id"]), str(trashed["id"]), "999999"]), sorted([str(trashed["id"]), "999999"])]
    assert [arg(c, "status") for c in calls] == [None, "trash"]


def test_unknown_status_from_a_plugin_is_tolerated(sim, http):
    order = add_order(sim)
    sim.control("POST", f"orders/{order['id']}/status", json={"status": "refund-requested"})
    [fetched] = connect(sim, http).fetch_orders([str(order["id"])])
    assert fetched.status_id == "refund-requested"


# --- pushing statuses (R-STA-3) ---------------------------------------------------------------


def test_R_STA_3_status_push_is_one_put_with_only_the_status(sim, http):
    order = add_order(sim, status="processing")
    sim.control("DELETE", "requests")
    connect(sim, http).push_status(str(order["id"]), "completed")
    [request] = sim.requests()
    assert (request["method"], request["path"], request["json"]) == ("PUT", f"{ORDERS}/{order['id']}",
                                                                     {"status": "completed"})
    assert arg(request, "oauth_signature")
    assert sim.control("GET", f"orders/{order['id']}")["status"] == "completed"


def test_push_status_to_a_missing_order_or_an_unknown_status_is_refused(sim, http):
    shop = connect(sim, http)
    with pytest.raises(NotFound):
        shop.push_status("999999", "completed")
    with pytest.raises(Rejected, match="status"):
        shop.push_status(str(add_order(sim)["id"]), "no-such-status")


def test_order_links_open_the_shop_admin(sim, http):
    shop = connect(sim, http)
    assert shop.order_url("1234") == f"{sim.url}/wp-admin/post.php?post=1234&action=edit"
    assert shop.orders_url() == f"{sim.url}/wp-admin/edit.php?post_type=shop_order"


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, count, error", [
    ("401", 1, AuthFailed), ("403", 1, AuthFailed), ("404", 1, ApiNotAvailable),
    ("malformed", 3, TruncatedPayload), ("truncated", 3, TruncatedPayload), ("html", 1, BadPayload),
    ("500", 3, Unreachable), ("502", 3, Unreachable), ("timeout", 3, Unreachable),
])
def test_faults_end_in_the_right_typed_error(sim, http, kind, count, error):
    order = add_order(sim)
    sim.inject(kind, count=count)
    with pytest.raises(error):
        connect(sim, http).fetch_orders([str(order["id"])])


@pytest.mark.parametrize("kind", ["500", "502", "503", "timeout", "malformed", "truncated"])
def test_one_transient_fault_is_retried_to_success(sim, http, kind):
    order = add_order(sim)
    sim.inject(kind)
    [fetched] = connect(sim, http).fetch_orders([str(order["id"])])
    assert fetched.external_id == str(order["id"])
    assert len(api_calls(sim)) == 2


def test_429_with_a_short_retry_after_is_waited_out(sim, http):
    order = add_order(sim)
    sim.inject("429", retry_after=1)
    started = time.monotonic()
    assert connect(sim, http).fetch_orders([str(order["id"])])
    assert time.monotonic() - started >= 0.95 and len(api_calls(sim)) == 2


def test_429_with_a_long_retry_after_is_rate_limited(sim, http):
    sim.inject("429", retry_after=30)
    with pytest.raises(RateLimited) as caught:
        connect(sim, http).fetch_orders(["1"])
    assert caught.value.retry_after == 30


def test_a_host_rate_limit_is_respected_and_the_page_still_arrives(sim, http):
    sim.control("POST", "rate-limit", json={"requests": 2, "per_seconds": 1})
    orders = every_order(connect(sim, http), created_since=datetime.now(UTC) - timedelta(days=2))
    assert sim.stats()["rate_limited"] >= 1 and orders


# --- secrets and auth modes -------------------------------------------------------------------


def test_R_CON_8_keys_never_reach_our_logs_or_messages(sim, http, caplog):
    caplog.set_level(logging.DEBUG)
    shop = connect(sim, http)
    shop.verify()
    with pytest.raises(AuthFailed) as caught:
        connect(sim, http, secret="cs_also_secret").verify()
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, "cs_also_secret"):
        assert secret not in ours and secret not in caught.value.message and secret not in repr(shop)


def test_https_stores_get_basic_auth_or_query_keys_and_http_ones_oauth():
    sent = []

    def send(method, url, **kwargs):
        sent.append(kwargs)
        response = requests.Response()
        response.status_code, response._content = 200, b"[]"
        return response

    WooClient("https://shop.example", "ck_1", "cs_1", send).get("orders")
    WooClient("https://shop.example", "ck_1", "cs_1", send, query_string_auth=True).get("orders", {"page": 2})
    WooClient("http://shop.example", "ck_1", "cs_1", send).get("orders")
    basic, query, oauth = sent
    assert isinstance(basic["auth"], HTTPBasicAuth) and basic["params"] == {}
    assert query["auth"] is None
    assert query["params"] == {"page": 2, "consumer_key": "ck_1", "consumer_secret": "cs_1"}
    assert isinstance(oauth["auth"], OAuth1) and oauth["auth"].client.signature_type == SIGNATURE_TYPE_QUERY


@pytest.mark.parametrize("status, body, error", [
    (401, {"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid."}, AuthFailed),
    (401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."}, AuthFailed),
    (401, {"code": "woocommerce_rest_authentication_error", "message": "Invalid timestamp."}, AuthFailed),
    (404, {"code": "rest_no_route", "message": "No route was found"}, ApiNotAvailable),
    (404, {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}, NotFound),
    (400, {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}, NotFound),
    (400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): status"}, Rejected),
    (403, "<html>Blocked by Wordfence</html>", ApiNotAvailable),
])
def test_woocommerce_error_envelope_maps_to_typed_errors(status, body, error):
    response = requests.Response()
    response.status_code, response.url = status, "https://shop.example/wp-json/wc/v3/orders"
    response._content = body.encode() if isinstance(body, str) else requests.models.complexjson.dumps(
        {**body, "data": {"status": status}}).encode()
    mapped = error_for(response, "PUT")
    assert type(mapped) is error
    if "timestamp" in str(body):
        assert "clock" in mapped.message


# --- the simulator, proven with the official client -------------------------------------------


def test_official_woocommerce_client_lists_and_updates_orders_over_plain_http(sim):
    wcapi = API(url=sim.url, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, version="wc/v3")
    response = wcapi.get("orders")
    assert response.status_code == 200 and len(response.json()) == 10
    assert int(response.headers["X-WP-Total"]) >= 40 and 'rel="next"' in response.headers["Link"]
    [request] = sim.requests()  # it signed with OAuth 1.0a (HMAC-SHA256) in the query string
    assert arg(request, "oauth_signature_method") == "HMAC-SHA256" and arg(request, "oauth_signature")
    processing = wcapi.get("orders", params={"per_page": 5, "status": "processing"}).json()
    assert len(processing) == 5 and {o["status"] for o in processing} == {"processing"}
    order = add_order(sim)
    assert wcapi.put(f"orders/{order['id']}", {"status": "on-hold"}).json()["status"] == "on-hold"
    bad = API(url=sim.url, consumer_key=CONSUMER_KEY, consumer_secret="cs_wrong", version="wc/v3").get("orders")
    assert bad.status_code == 401 and bad.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": "Invalid signature - provided signature does not match.", "data": {"status": 401}}


def test_simulator_refuses_replayed_nonces_and_stale_timestamps(sim):
    url = f"{sim.url}{ORDERS}?per_page=1"
    signed = requests.Request("GET", url, auth=OAuth1(CONSUMER_KEY, CONSUMER_SECRET,
                                                      signature_type=SIGNATURE_TYPE_QUERY)).prepare()
    with requests.Session() as session:
        assert session.send(signed, timeout=5).status_code == 200
        replay = session.send(signed, timeout=5)
        an_hour_ago = str(int(time.time()) - 3600)
        stale = session.get(url, timeout=5, auth=OAuth1(CONSUMER_KEY, CONSUMER_SECRET, timestamp=an_hour_ago,
                                                        signature_type=SIGNATURE_TYPE_QUERY))
        partial = session.get(f"{url}&oauth_consumer_key={CONSUMER_KEY}", timeout=5)
        basic = session.get(url, timeout=5, auth=(CONSUMER_KEY, CONSUMER_SECRET))
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."
    assert stale.json()["message"] == "Invalid timestamp."
    assert partial.json()["code"] == "woocommerce_rest_authentication_missing_parameter"
    assert (basic.status_code, basic.json()["code"]) == (401, "woocommerce_rest_cannot_view")  # http: Basic ignored


def test_simulator_accepts_basic_auth_as_an_https_store_does():
    with serving("woocommerce", orders=3) as sim:
        url = f"{sim.url}{ORDERS}"
        good = requests.get(url, auth=(CONSUMER_KEY, CONSUMER_SECRET), timeout=5)
        wrong = requests.get(url, auth=(CONSUMER_KEY, "cs_wrong"), timeout=5)
        unknown = requests.get(url, auth=("ck_unknown", "cs_x"), timeout=5)
        keys = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
        query = requests.get(url, params=keys, timeout=5)
    assert good.status_code == 200 and query.status_code == 200
    assert wrong.json()["message"] == "Consumer secret is invalid." and "WWW-Authenticate" in wrong.headers
    assert (unknown.status_code, unknown.json()["code"]) == (401, "woocommerce_rest_cannot_view")


# --- R-REL-2: a page served again, a body cut off ---------------------------------------------


@pytest.fixture
def paged(big):
    yield big
    big.app.extensions["sim_state"].faults.clear()  # a failed test must not leak its faults


def by_creation(sim) -> list[str]:
    return [str(o["id"]) for o in sorted(listed(sim), key=lambda o: (o["date_created_gmt"], o["id"]))]


def test_R_REL_2_woocommerce_page_served_twice_loses_nothing(paged, http):
    """A cache answers the second page's request with the first page verbatim: the adapter once
    took that for "a whole page in one second" and skipped a page. Now it asks again."""
    before = paged.stats()["faults_served"]
    got = ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "repeat")
    assert got == by_creation(paged)  # every order once, none skipped
    assert paged.stats()["faults_served"] == before + 1
    assert len(api_calls(paged)) == 11  # ten pages and the one asked for again


def test_R_REL_2_woocommerce_page_served_again_beyond_the_retries_fails_loudly(paged, http):
    with pytest.raises(RepeatedPage) as caught:
        ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "repeat", count=FAST.attempts)
    message = caught.value.message
    assert "cache" in message and f"{paged.url}/wp-json/wc/v3/" in message and "no order is skipped" in message
    assert caught.value.retryable and isinstance(caught.value, BadPayload)


def test_R_REL_2_woocommerce_repeat_within_one_busy_second_loses_nothing(sim, http):
    """250 orders share one second: the second page of that second's query is answered with its
    first page. Not the boundary re-serve the scheme expects on a fresh query: asked again."""
    moment = (datetime.now(UTC) - timedelta(days=500)).replace(microsecond=0)
    added = sim.control("POST", "orders", json={"count": 250, "created": moment.isoformat()})["ids"]
    pages = connect(sim, http).iter_orders(created_since=moment - timedelta(seconds=5))
    got = ids_with_fault_after_page(pages, sim, "repeat", after_page=2)
    assert sorted(got[:250]) == sorted(map(str, added)) and len(set(got)) == len(got)


def test_R_REL_2_woocommerce_stale_answer_to_a_syncs_first_page_is_asked_again(paged, http):
    """A cache ignoring the query string answers a sync's first ``modified_after`` page with the
    previous answer to ``orders`` (a re-read of old orders by id): changed before the filter,
    so not this query's answer; asked again, nothing is missed. (The adapter used to read it
    as the shop's last page and end the run.)"""
    shop = connect(paged, http)
    since = datetime.now(UTC) - timedelta(days=10)
    expected = [order.external_id for page in shop.iter_orders(updated_since=since) for order in page.orders]
    old = sorted(listed(paged), key=lambda o: o["date_modified_gmt"])[:3]
    assert datetime.fromisoformat(old[-1]["date_modified_gmt"]).replace(tzinfo=UTC) < since
    assert len(shop.fetch_orders([str(o["id"]) for o in old])) == 3 and 0 < len(expected) < 1000
    paged.inject("repeat")
    got = [order.external_id for page in shop.iter_orders(updated_since=since) for order in page.orders]
    assert got == expected


def test_R_REL_2_woocommerce_stale_answer_to_a_re_read_by_ids_is_asked_again(paged, http):
    shop = connect(paged, http)
    next(shop.iter_orders())
    wanted = by_creation(paged)[-2:]
    paged.inject("repeat")
    assert sorted(order.external_id for order in shop.fetch_orders(wanted)) == sorted(wanted)


def test_R_REL_2_woocommerce_truncated_body_is_retried_and_orders_complete(paged, http):
    got = ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "truncated")
    assert got == by_creation(paged)


def test_R_REL_2_woocommerce_order_changed_during_paging_is_read_again_not_taken_for_a_repeat(http):
    """An order modified during a run moves to the end of the "modified" ordering: it comes
    again, changed, and the run neither stops nor loses an order."""
    with woo_sim(orders=250) as sim:
        pages = connect(sim, http).iter_orders(updated_since=datetime(2000, 1, 1, tzinfo=UTC))
        got, changed = [], None
        for number, page in enumerate(pages, start=1):
            got += [(o.external_id, o.status_id) for o in page.orders]
            if number == 1:
                changed = page.orders[0]
                status = "processing" if changed.status_id == "on-hold" else "on-hold"
                sim.control("POST", f"orders/{changed.external_id}/status", json={"status": status})
        ids = [ident for ident, _ in got]
        assert set(ids) >= {str(o["id"]) for o in listed(sim)}
    assert ids.count(changed.external_id) == 2
    assert [s for i, s in got if i == changed.external_id][-1] == status
