"""The Cartum adapter against the Cartum simulator: the contract ``sync/`` relies on.

Real loopback HTTP, the real shared HTTP layer and a real Redis for the request budget.
Each test reads the simulator's request log to check what was actually sent.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.support.simulators import serving
from tests.support.pages import ids_with_fault_after_page
from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, NotFound, RateLimited, Rejected, RemoteStatus,
    RepeatedPage, TruncatedPayload, Unreachable,
)
from webapp.platforms.cartum import ZONE_SLACK, CartumPlatform, mapping
from webapp.platforms.http import HttpSettings, PlatformHttp

LOGIN, PASSWORD = "api-manager", "Pa55-w0rd-not-for-logs"
KYIV = ZoneInfo("Europe/Kyiv")
FAST = HttpSettings(connect_timeout=1.0, read_timeout=2.5, attempts=3, backoff=0.02, max_backoff=0.1,
                    max_retry_wait=2.0, short_retry_after=1.5, max_budget_wait=3.0)


@pytest.fixture
def http(redis):
    client = PlatformHttp(redis, FAST)
    yield client
    client.close()


def connect(sim, http, *, password: str = PASSWORD, **options) -> CartumPlatform:
    shop = CartumPlatform(sim.url, {"login": LOGIN, "password": password}, options, http)
    shop.RATE = "500/second"  # the real budget (2/s) is the shared layer's business, tested there
    return shop


def shop_sim(orders: int = 60, **options):
    return serving("cartum", orders=orders, login=LOGIN, password=PASSWORD, **options)


@pytest.fixture(scope="module")
def shared_shop():
    # One shop for the module: each simulator costs half a second to shut down. Tests that
    # change data add or use their own orders, so they do not depend on one another.
    with shop_sim() as running:
        running.app.extensions["sim_state"].timeout_seconds = 3.0  # a "timeout" fault sleeps this long (> FAST.read_timeout)
        yield running


@pytest.fixture
def sim(shared_shop):
    state, shop = shared_shop.app.extensions["sim_state"], shared_shop.app.extensions["cartum_shop"]
    with state.lock, shop.lock:
        state.faults.clear()
        shop.unauthorized_left, shop.undefined = 0, set()
    shared_shop.control("DELETE", "requests")
    return shared_shop


@pytest.fixture(scope="module")
def big_shop():
    with shop_sim(orders=1000) as running:
        yield running


@pytest.fixture
def big(big_shop):
    big_shop.control("DELETE", "requests")
    return big_shop


def calls(sim) -> list[str]:
    return [r["path"].removeprefix("/api/").strip("/") for r in sim.requests()]


def bodies(sim, function: str) -> list[dict]:
    return [r["json"] for r in sim.requests() if r["path"] == f"/api/{function}/"]


def signed_in(sim, http, **options) -> CartumPlatform:
    shop = connect(sim, http, **options)
    shop.verify()
    sim.control("DELETE", "requests")
    return shop


def sim_orders(sim) -> list[dict]:
    return sim.control("GET", "orders")["orders"]


def all_ids(pages) -> list[str]:
    return [order.external_id for page in pages for order in page.orders]


# --- connecting (R-CON-4) -------------------------------------------------------------------

def test_R_CON_4_good_credentials_sign_in_and_read_orders(sim, http):
    connect(sim, http).verify()
    assert calls(sim) == ["auth", "orders/get"]
    assert bodies(sim, "auth") == [{"login": LOGIN, "password": PASSWORD}]
    (query,) = bodies(sim, "orders/get")
    assert re.fullmatch(r"[0-9a-f]{32}", query.pop("token")) and query == {"limit": 1, "offset": 0}


def test_R_CON_4_wrong_password_is_auth_failed_with_advice(sim, http):
    with pytest.raises(AuthFailed) as caught:
        connect(sim, http, password="wrong").verify()
    assert "Settings > Administrators" in caught.value.message and "not the e-mail" in caught.value.message
    assert "does not exist" in caught.value.message  # the shop's own reason is passed on
    assert calls(sim) == ["auth"]


def test_R_CON_4_empty_credentials_fail_without_a_request(sim, http):
    with pytest.raises(AuthFailed):
        connect(sim, http, password="").verify()
    assert calls(sim) == []


@pytest.mark.parametrize("no_api", ["1", "html"])
def test_R_CON_4_plan_without_api_access_is_api_not_available(http, no_api):
    with shop_sim(no_api=no_api) as sim:
        with pytest.raises(ApiNotAvailable) as caught:
            connect(sim, http).verify()
        assert caught.value.code == "api_not_available" and "plan" in caught.value.message
        assert calls(sim) == ["auth"]


# --- statuses (R-CON-5) ---------------------------------------------------------------------

def test_R_CON_5_statuses_are_read_live_in_the_store_language(sim, http):
    found = connect(sim, http, language="ro").statuses()
    assert [s.id for s in found] == ["1", "2", "3", "4", "6", "8"]
    assert found[0] == RemoteStatus("1", "Nou") and found[-1] == RemoteStatus("8", "Plătit")


def test_R_CON_5_older_store_falls_back_to_the_built_in_statuses(http):
    with shop_sim(legacy="1") as sim:
        assert connect(sim, http).statuses() == list(mapping.BUILT_IN_STATUSES)
        assert calls(sim) == ["auth", "orders/get_available_statuses"]


# --- reading orders -------------------------------------------------------------------------

def test_R_IMP_1_paging_through_1000_orders_has_no_gap_and_no_repeat(big, http):
    pages = list(connect(big, http, page_size="100").iter_orders())
    ids = all_ids(pages)
    assert len(ids) == 1000 and set(ids) == {str(o["order_id"]) for o in sim_orders(big)}
    assert [page.checkpoint is None for page in pages] == [False] * 10 + [True]
    queries = bodies(big, "orders/get")
    assert [(q["offset"], q["limit"]) for q in queries] == [(n, 100) for n in range(0, 1001, 100)]
    assert len({q["to"] for q in queries}) == 1 and not any("from" in q for q in queries)
    assert {order.status_id for page in pages for order in page.orders} == {"1", "2", "3", "4", "6", "8"}


def test_R_IMP_2_created_since_sends_from_in_store_time_and_filters(big, http):
    """The window opens ZONE_SLACK early, so that a store time zone set wrong loses no order."""
    since = datetime.now(timezone.utc) - timedelta(days=30)
    ids = all_ids(connect(big, http, page_size="500").iter_orders(created_since=since))
    local_since = (since - ZONE_SLACK).astimezone(KYIV).replace(tzinfo=None, microsecond=0)
    expected = {str(o["order_id"]) for o in sim_orders(big)
                if datetime.fromisoformat(o["stat_created"]) >= local_since}
    assert 200 < len(expected) < 500 and sorted(ids, key=int) == sorted(expected, key=int)
    assert bodies(big, "orders/get")[0]["from"] == local_since.strftime("%Y-%m-%d %H:%M:%S")


def test_R_IMP_2_updated_since_is_read_as_created_since_and_the_earlier_bound_wins(big, http):
    now = datetime.now(timezone.utc)
    shop = connect(big, http, page_size="500")
    wide = all_ids(shop.iter_orders(created_since=now - timedelta(days=10),
                                    updated_since=now - timedelta(days=20)))
    only = all_ids(shop.iter_orders(updated_since=now - timedelta(days=20)))
    assert wide == only and len(only) > 0


def test_R_IMP_6_resume_from_a_checkpoint_continues_after_that_page(big, http):
    first_run = connect(big, http, page_size="100").iter_orders()
    done = [next(first_run) for _ in range(3)]
    big.control("DELETE", "requests")
    # A killed worker: a new adapter, only the stored checkpoint survives.
    rest = list(connect(big, http, page_size="100").iter_orders(resume_from=done[-1].checkpoint))
    ids = all_ids(done) + all_ids(rest)
    assert len(ids) == len(set(ids)) == 1000
    first_query = bodies(big, "orders/get")[0]
    assert first_query["offset"] == 300 and first_query["to"] in done[-1].checkpoint
    assert calls(big)[0] == "auth"  # the new adapter signs in; nothing is re-read


def test_a_foreign_checkpoint_is_refused(sim, http):
    with pytest.raises(ValueError, match="checkpoint"):
        next(connect(sim, http).iter_orders(resume_from="page=3"))


def test_R_IMP_1_an_order_placed_during_a_run_is_read_once_and_never_lost(sim, http):
    """The window ends ZONE_SLACK after "now" (a wrong store zone must not hide new orders), so an
    order placed during a run may already come with it; orders are listed by number, so it
    only adds to the end and shifts no page. Either way it is there, once."""
    existing = {str(o["order_id"]) for o in sim_orders(sim)}
    shop = connect(sim, http, page_size="20")
    run = shop.iter_orders()
    first = next(run)
    new = sim.control("POST", "orders", json={"products": [{"article": "CT-1001"}]})["order"]
    added = str(new["order_id"])
    ids = all_ids([first, *run])
    assert len(ids) == len(set(ids)) and existing <= set(ids) <= existing | {added}
    # Seeded orders are at least 5 minutes old; only the new one is younger than 2 minutes.
    next_run = shop.iter_orders(created_since=datetime.now(timezone.utc) - timedelta(minutes=2))
    assert added in all_ids(next_run)


def test_R_ORD_4_fetch_orders_by_number_leaves_missing_ones_out(big, http):
    found = connect(big, http).fetch_orders(["5", "17", "999999", "17"])
    assert sorted(order.external_id for order in found) == ["17", "5"]
    query, missing = bodies(big, "orders/get")  # the missing one asked for alone: gone indeed
    assert (query["ids"], query["limit"], query["offset"]) == ([5, 17, 999999], 3, 0)
    assert missing["ids"] == [999999]


def test_R_ORD_4_fetch_orders_asks_in_batches_of_the_largest_size_whatever_the_page_size(big, http):
    found = connect(big, http, page_size="100").fetch_orders([str(n) for n in range(1, 751)])
    assert len(found) == 750
    assert [len(q["ids"]) for q in bodies(big, "orders/get")] == [500, 250]


def test_R_PRD_8_items_are_named_from_the_catalog_in_the_store_language(sim, http):
    shop = connect(sim, http, language="ro")
    orders = shop.fetch_orders([str(n) for n in range(1, 61)])
    lines = {item.sku: item for order in orders for item in order.items if item.sku}
    assert lines["CT-1001"].name == "Smartphone A1" and lines["CT-1001"].category_path == ("Telefoane",)
    assert lines["CT-1003"].name == "Încărcător rapid A1"
    assert lines["CT-1003"].description.startswith("Fiabil și bine lucrat")
    assert lines["CT-1002"].name == "Leather case A1"  # "ro" switched off for it: English
    (export,) = bodies(sim, "catalog/export")
    assert len(export["expr"]["article"]) == len(lines) and export["limit"] == len(lines)
    assert "description" in export["includedParams"]
    shop.fetch_orders(["1", "2"])
    assert calls(sim).count("catalog/export") == 1  # looked up once per adapter


def test_R_PRD_8_a_shop_refusing_the_catalog_look_up_still_gives_its_orders(sim, http):
    sim.control("POST", "undefined", json={"functions": ["catalog/export"]})
    (order,) = connect(sim, http, language="ro").fetch_orders(["1"])
    assert order.items and all(item.name and item.description == "" for item in order.items)
    assert calls(sim) == ["auth", "orders/get", "catalog/export"]


def test_R_ORD_7_seeded_shop_has_guests_other_currencies_and_both_delivery_kinds(sim, http):
    orders = connect(sim, http).fetch_orders([str(n) for n in range(1, 61)])
    assert len(orders) == 60
    assert {o.currency for o in orders} == {"EUR", "USD"}
    assert any(o.buyer is None for o in orders)
    assert any(o.buyer is not None and not o.buyer.has_contact for o in orders)
    deliveries = [o.delivery for o in orders if o.delivery]
    assert {d.is_own_method for d in deliveries} == {True, False}
    assert any(d.cost is None for d in deliveries if d.is_own_method)  # -1 on an own method
    assert all(d.cost is None for d in deliveries if not d.is_own_method)
    assert any(item.sku == "" for o in orders for item in o.items)  # a line without an article


def test_R_CLI_2_returning_buyers_write_their_phone_differently(sim, http):
    orders = connect(sim, http).fetch_orders([str(n) for n in range(1, 61)])
    phones: dict[tuple[str, str], set[str]] = {}
    for order in orders:
        if order.buyer and order.buyer.phone:
            phones.setdefault((order.buyer.first_name, order.buyer.last_name), set()).add(order.buyer.phone)
    assert any(len(written) > 1 for written in phones.values())


def test_R_IMP_4_R_DEL_2_changes_made_in_the_shop_are_seen_on_re_read(sim, http):
    shop = connect(sim, http)
    new = sim.control("POST", "orders", json={
        "products": [{"article": "CT-1004", "quantity": 1}, {"article": "CT-1005", "quantity": 2}],
        "delivery_name": "Olena Kovalenko", "delivery_phone": "+380 67 123-45-67", "delivery_type_id": 3,
        "delivery_city": "Київ", "delivery_address": "Branch 12"})["order"]
    number = str(new["order_id"])
    (before,) = shop.fetch_orders([number])
    assert [i.quantity for i in before.items] == [1, 2] and not before.delivery.is_own_method
    sim.control("POST", f"orders/{number}/quantity", json={"article": "CT-1004", "quantity": 9})
    sim.control("POST", f"orders/{number}/status", json={"status": 6})
    sim.control("POST", f"orders/{number}/delivery", json={"type_id": 12, "price": 120, "city": "Львів",
                                                           "address": "пл. Ринок, 1"})
    (after,) = shop.fetch_orders([number])
    assert [i.quantity for i in after.items] == [9, 2] and after.status_id == "6"
    assert after.total == before.total + 8 * before.items[0].price
    assert (after.delivery.method_name, after.delivery.cost, after.delivery.is_own_method) == (
        "Own courier", 120, True)
    assert after.delivery.recipient_address == "Львів, пл. Ринок, 1"


# --- pushing statuses (R-STA-1) -------------------------------------------------------------

def test_R_STA_1_push_status_sends_exactly_the_mapped_status(sim, http):
    shop = signed_in(sim, http)
    shop.push_status("5", "2")
    assert calls(sim) == ["orders/update"]
    (body,) = bodies(sim, "orders/update")
    assert re.fullmatch(r"[0-9a-f]{32}", body.pop("token"))
    assert body == {"orders": [{"order_id": 5, "status": 2}]}
    assert sim.control("GET", "orders/5")["stat_status"] == 2


def test_R_STA_1_push_to_a_missing_order_is_not_found(sim, http):
    with pytest.raises(NotFound):
        connect(sim, http).push_status("999999", "2")


def test_R_STA_1_push_of_an_unknown_status_is_rejected_with_the_shop_reason(sim, http):
    with pytest.raises(Rejected, match="status is not defined"):
        connect(sim, http).push_status("5", "77")


def test_R_STA_1_cancelled_orders_are_read_only_but_a_repeat_is_fine(sim, http):
    shop = connect(sim, http)
    shop.push_status("7", "4")
    shop.push_status("7", "4")  # already cancelled: Cartum says ERROR, the re-read says done
    with pytest.raises(Rejected, match="cannot be edited"):
        shop.push_status("7", "2")
    assert sim.control("GET", "orders/7")["stat_status"] == 4


def test_R_STA_1_push_is_sent_once_even_on_a_server_error(sim, http):
    shop = signed_in(sim, http)
    before = sim.control("GET", "orders/11")["stat_status"]
    sim.inject("500", count=3)
    with pytest.raises(Unreachable) as caught:
        shop.push_status("11", "6" if before != 6 else "2")
    assert caught.value.retryable and calls(sim) == ["orders/update"]
    assert sim.control("GET", "orders/11")["stat_status"] == before


# --- the token ------------------------------------------------------------------------------

def test_token_is_renewed_before_its_lifetime_ends(sim, http):
    shop = connect(sim, http)
    shop.client.token_lifetime, shop.client.refresh_margin = 0.3, 0.1
    shop.verify()
    time.sleep(0.25)
    shop.statuses()
    assert calls(sim) == ["auth", "orders/get", "auth", "orders/get_available_statuses"]
    sent = bodies(sim, "orders/get") + bodies(sim, "orders/get_available_statuses")
    first, second = (body["token"] for body in sent)
    assert first != second


def test_an_expired_token_is_refreshed_once_on_unauthorized(http):
    with shop_sim(token_ttl="0.3") as sim:
        shop = signed_in(sim, http)
        time.sleep(0.4)
        assert len(shop.statuses()) == 6
        assert calls(sim) == ["orders/get_available_statuses", "auth", "orders/get_available_statuses"]


def test_a_token_refused_twice_is_auth_failed_not_a_loop(sim, http):
    shop = signed_in(sim, http)
    sim.control("POST", "unauthorized", json={"count": 5})
    with pytest.raises(AuthFailed, match="refused its session"):
        shop.statuses()
    assert calls(sim) == ["orders/get_available_statuses", "auth", "orders/get_available_statuses"]


def test_tokens_revoked_by_the_shop_are_replaced(sim, http):
    shop = signed_in(sim, http)
    sim.control("POST", "tokens/expire")
    assert len(shop.fetch_orders(["1"])) == 1
    assert calls(sim)[:3] == ["orders/get", "auth", "orders/get"]


# --- injected faults ------------------------------------------------------------------------

def test_fault_401_signs_in_again_and_succeeds(sim, http):
    shop = signed_in(sim, http)
    sim.inject("401")
    assert len(shop.statuses()) == 6
    assert calls(sim) == ["orders/get_available_statuses", "auth", "orders/get_available_statuses"]


def test_fault_401_on_sign_in_is_auth_failed(sim, http):
    sim.inject("401")
    with pytest.raises(AuthFailed):
        connect(sim, http).verify()


def test_fault_403_is_auth_failed(sim, http):
    shop = signed_in(sim, http)
    sim.inject("403")
    with pytest.raises(AuthFailed, match="HTTP 403"):
        shop.statuses()


def test_fault_404_is_api_not_available(sim, http):
    shop = signed_in(sim, http)
    sim.inject("404")
    with pytest.raises(ApiNotAvailable):
        shop.statuses()


def test_fault_429_with_a_short_retry_after_is_waited_out(sim, http):
    shop = signed_in(sim, http)
    sim.inject("429", retry_after=1)
    started = time.monotonic()
    assert len(shop.statuses()) == 6
    assert time.monotonic() - started >= 1.0
    assert calls(sim) == ["orders/get_available_statuses"] * 2


def test_fault_429_with_a_long_retry_after_is_rate_limited(sim, http):
    shop = signed_in(sim, http)
    sim.inject("429", retry_after=30)
    with pytest.raises(RateLimited) as caught:
        shop.statuses()
    assert caught.value.retry_after == 30 and caught.value.retryable


@pytest.mark.parametrize("kind", ["500", "502", "503", "timeout", "malformed", "truncated"])
def test_fault_transient_is_retried_and_succeeds(sim, http, kind):
    shop = signed_in(sim, http)
    sim.inject(kind)
    assert len(shop.fetch_orders(["3"])) == 1
    assert calls(sim) == ["orders/get", "orders/get", "catalog/export"]


def test_fault_persistent_500_is_unreachable(sim, http):
    shop = signed_in(sim, http)
    sim.inject("500", count=FAST.attempts)
    with pytest.raises(Unreachable, match="server error 500"):
        shop.statuses()
    assert len(calls(sim)) == FAST.attempts


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_R_REL_2_fault_persistent_cut_off_json_is_truncated_payload_not_the_url(sim, http, kind):
    shop = signed_in(sim, http)
    sim.inject(kind, count=FAST.attempts)
    with pytest.raises(TruncatedPayload) as caught:
        list(shop.iter_orders())
    assert calls(sim) == ["orders/get"] * FAST.attempts
    assert "cut off" in caught.value.message and "tries again by itself" in caught.value.message
    assert "Website URL" not in caught.value.message and caught.value.retryable


def test_fault_html_body_is_bad_payload_on_a_call(sim, http):
    shop = signed_in(sim, http)
    sim.inject("html")
    with pytest.raises(BadPayload, match="text/html"):
        shop.fetch_orders(["1"])


def test_R_CON_4_fault_html_body_on_sign_in_is_api_not_available(sim, http):
    sim.inject("html")
    with pytest.raises(ApiNotAvailable):
        connect(sim, http).verify()


# --- R-REL-2: a page served again -----------------------------------------------------------


@pytest.fixture
def paged(big):
    yield big
    big.app.extensions["sim_state"].faults.clear()  # a failed test must not leak its faults


def test_R_REL_2_cartum_page_served_twice_loses_nothing(paged, http):
    """A cache answers the request for offset 100 with the first page: the adapter used to stop
    the run at once; the shared guard asks again and the run completes."""
    expected = all_ids(connect(paged, http).iter_orders())
    paged.control("DELETE", "requests")
    got = ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "repeat")
    assert got == expected and len(set(got)) == len(got) > 900
    offsets = [body["offset"] for body in bodies(paged, "orders/get")]
    assert offsets[:3] == [0, 100, 100]  # the repeated page asked for again


def test_R_REL_2_cartum_page_served_again_beyond_the_retries_fails_loudly(paged, http):
    with pytest.raises(RepeatedPage) as caught:
        ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "repeat", count=FAST.attempts)
    assert "cache" in caught.value.message and f"{paged.url}/api/" in caught.value.message
    assert [body["offset"] for body in bodies(paged, "orders/get")] == [0, 100, 100, 100]


def earlier_call_then_repeat(shop, sim, earlier: str) -> None:
    """The last orders/get call before a sync: a re-read of the three oldest orders by id (a
    sync ends with one), or the first page of a run over an older window (a previous run's)."""
    if earlier == "by ids":
        assert [o.external_id for o in shop.fetch_orders(["1", "2", "3"])] == ["1", "2", "3"]
    else:
        next(shop.iter_orders(created_since=datetime.now(timezone.utc) - timedelta(days=80)))
    sim.control("DELETE", "requests")
    sim.inject("repeat")


@pytest.mark.parametrize("earlier", ["by ids", "an older window"])
def test_R_REL_2_cartum_stale_answer_to_a_syncs_first_page_is_asked_again(paged, http, earlier):
    """A cache ignoring the POST body answers a sync's first page with the previous call's
    answer. The guard saw none of those orders in this run; they were created before this
    window, so the answer is not this query's and is asked for again: nothing is missed.
    (It used to end the run at once with a short page and import nothing.)"""
    shop = connect(paged, http, page_size="100")
    since = datetime.now(timezone.utc) - timedelta(days=10)
    expected = all_ids(shop.iter_orders(created_since=since))
    earlier_call_then_repeat(shop, paged, earlier)
    assert all_ids(shop.iter_orders(created_since=since)) == expected and len(expected) > 50
    offsets = [body["offset"] for body in bodies(paged, "orders/get")]
    assert offsets[:2] == [0, 0]  # the stale first page asked for again


def test_R_REL_2_cartum_stale_answer_to_a_re_read_by_ids_is_asked_again(paged, http):
    """The re-read of open orders answered with the sync's last page: none of those are the
    orders asked for, so it is asked again (it used to drop them and bring no change)."""
    shop = connect(paged, http, page_size="100")
    next(shop.iter_orders())
    paged.inject("repeat")
    assert [o.external_id for o in shop.fetch_orders(["990", "995"])] == ["990", "995"]
    assert [body.get("ids") for body in bodies(paged, "orders/get")][-2:] == [[990, 995]] * 2


def test_R_REL_2_cartum_stale_answer_of_orders_also_asked_for_is_caught_by_the_missing_ones(paged, http):
    """A re-read of many open orders answered with an earlier re-read of a few of them: every
    order on it was asked for, so only the missing ones tell. Asked for alone, the shop has them:
    the first answer was not to this question, and the batch is asked again."""
    shop = connect(paged, http, page_size="100")
    shop.fetch_orders(["990", "995"])
    paged.inject("repeat")
    assert [o.external_id for o in shop.fetch_orders(["985", "990", "995"])] == ["985", "990", "995"]
    assert [body.get("ids") for body in bodies(paged, "orders/get")][-3:] == [[985, 990, 995], [985],
                                                                              [985, 990, 995]]


def test_R_REL_2_cartum_stale_empty_answer_to_a_re_read_is_asked_again(paged, http):
    """A cache replaying an EMPTY answer to a re-read: Cartum gives every order asked for that it
    has, so EMPTY for orders it gave us is asked again rather than taken for "all gone"."""
    shop = connect(paged, http, page_size="100")
    assert shop.fetch_orders(["999998"]) == []
    paged.inject("repeat")
    assert [o.external_id for o in shop.fetch_orders(["985", "990"])] == ["985", "990"]
    assert [body.get("ids") for body in bodies(paged, "orders/get")][-2:] == [[985, 990]] * 2


def test_R_REL_2_cartum_stale_answers_beyond_the_retries_fail_loudly(paged, http):
    shop = connect(paged, http, page_size="100")
    earlier_call_then_repeat(shop, paged, "by ids")
    paged.inject("repeat", count=FAST.attempts - 1)  # with the helper's: every attempt
    with pytest.raises(RepeatedPage) as caught:
        next(shop.iter_orders(created_since=datetime.now(timezone.utc) - timedelta(days=10)))
    message = caught.value.message
    assert "do not match the request" in message and "cache" in message and "nothing is lost" in message
    assert f"{paged.url}/api/" in message and caught.value.retryable
    assert len(bodies(paged, "orders/get")) == FAST.attempts


def test_R_REL_2_cartum_truncated_page_is_retried_and_orders_complete(paged, http):
    expected = all_ids(connect(paged, http).iter_orders())
    assert ids_with_fault_after_page(connect(paged, http).iter_orders(), paged, "truncated") == expected


# --- secrets (R-CON-8) ----------------------------------------------------------------------

def test_R_CON_8_password_and_token_never_reach_logs_errors_or_reprs(sim, http, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    for password in ("wrong-" + PASSWORD, PASSWORD):
        shop = connect(sim, http, password=password)
        try:
            shop.verify()
            sim.inject("401")
            sim.inject("500")
            shop.statuses()
            sim.inject("html")
            shop.fetch_orders(["1"])
        except Exception as error:  # noqa: BLE001 - every error's message is checked below
            errors.append(str(error))
    tokens = {b["token"] for r in sim.requests() for b in [r["json"] or {}] if b.get("token")}
    assert len(errors) == 2 and len(tokens) == 2
    texts = [record.getMessage() for record in caplog.records] + errors + [repr(shop), repr(shop.client)]
    for secret in [PASSWORD, *tokens]:
        assert not any(secret in text for text in texts), secret


# --- the simulator's own contract -----------------------------------------------------------

def test_simulator_dates_accept_cartum_formats_and_a_date_alone_is_the_whole_day(sim):
    token = requests.post(f"{sim.url}/api/auth/", json={"login": LOGIN, "password": PASSWORD},
                          timeout=5).json()["response"]["token"]
    newest = max(sim_orders(sim), key=lambda o: o["order_id"])
    day = datetime.fromisoformat(newest["stat_created"]).date()
    answer = requests.post(f"{sim.url}/api/orders/get/", timeout=5, json={
        "token": token, "from": day.strftime("%d.%m.%Y"), "to": day.isoformat()}).json()
    assert answer["status"] == "OK"
    assert newest["order_id"] in [o["order_id"] for o in answer["response"]["orders"]]
    assert all(o["stat_created"].startswith(day.isoformat()) for o in answer["response"]["orders"])
    bad = requests.post(f"{sim.url}/api/orders/get/", json={"token": token, "from": "yesterday"}, timeout=5)
    assert bad.status_code == 200 and bad.json()["status"] == "ERROR"
    unknown = requests.post(f"{sim.url}/api/cart/get/", json={"token": token}, timeout=5).json()
    assert unknown == {"status": "UNDEFINED_FUNCTION", "response": []}


def test_simulator_is_deterministic_for_a_seed():
    from simulators import cartum

    def shape(app):
        shop = app.extensions["cartum_shop"]
        return [{k: v for k, v in o.items() if k != "stat_created"} for o in shop.orders.values()]

    assert shape(cartum.create_app(orders=40, seed=7)) == shape(cartum.create_app(orders=40, seed=7))
    assert shape(cartum.create_app(orders=40, seed=7)) != shape(cartum.create_app(orders=40, seed=8))
