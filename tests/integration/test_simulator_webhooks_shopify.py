"""The Shopify simulator's webhooks (simulators/webhooks.py, shopify.md A9): ``webhooks.json``
subscriptions through the Admin API, signed deliveries to a receiver on loopback, retries and
the subscription's deletion, and the test switches of ``/_sim/webhooks/faults``.

Real loopback HTTP both ways: the simulator in a thread, a tiny receiver (tests/support) in
another. Waits are bounded; nothing sleeps a fixed time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading

import pytest
import requests

from simulators.webhooks import NOT_LOOPBACK
from tests.support.simulators import receiving, serving

VERSION = "2026-07"
TOKEN = "shpat_simulator"
SECRET = "sim-client-secret"
HEADERS = {"X-Shopify-Access-Token": TOKEN}


def api(sim, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sim.url}/admin/api/{VERSION}/{path}", headers=HEADERS, timeout=10, **kwargs)


def subscribe(sim, topic: str, address: str) -> dict:
    response = api(sim, "POST", "webhooks.json",
                   json={"webhook": {"topic": topic, "address": address, "format": "json"}})
    assert response.status_code == 201, response.text
    return response.json()["webhook"]


def signature(body: bytes, key: str = SECRET) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def add_order(sim) -> dict:
    return sim.control("POST", "orders", json={"buyer": "returning"})


def bump_quantity(sim, order: dict) -> dict:
    line = order["line_items"][0]
    return sim.control("POST", f"orders/{order['id']}/line_items/{line['id']}",
                       json={"quantity": line["current_quantity"] + 1})


def test_R_HOOK_4_webhooks_json_creates_lists_counts_updates_and_deletes():
    with serving("shopify", orders=3) as sim:
        created = subscribe(sim, "orders/updated", "https://orderdock.example/hooks/abc/shopify")
        assert set(created) == {"id", "address", "topic", "created_at", "updated_at", "format", "fields",
                                "metafield_namespaces", "api_version", "private_metafield_namespaces"}
        assert (created["topic"], created["format"], created["api_version"]) == ("orders/updated", "json", VERSION)
        local = subscribe(sim, "orders/create", "http://127.0.0.1:9/hooks/abc/shopify")  # the loopback allowance

        listed = api(sim, "GET", "webhooks.json", params={"topic": "orders/create"}).json()["webhooks"]
        assert [w["id"] for w in listed] == [local["id"]]
        assert api(sim, "GET", "webhooks/count.json").json() == {"count": 2}
        moved = api(sim, "PUT", f"webhooks/{created['id']}.json",
                    json={"webhook": {"id": created["id"], "address": "https://orderdock.example/hooks/new/shopify"}})
        assert moved.status_code == 200 and moved.json()["webhook"]["address"].endswith("/new/shopify")
        assert api(sim, "GET", f"webhooks/{created['id']}.json").json()["webhook"]["address"].endswith("/new/shopify")

        assert api(sim, "DELETE", f"webhooks/{created['id']}.json").status_code == 200
        assert api(sim, "GET", f"webhooks/{created['id']}.json").status_code == 404
        assert api(sim, "DELETE", f"webhooks/{created['id']}.json").json() == {"errors": "Not Found"}
        assert sim.control("GET", "webhooks") == [{
            "id": local["id"], "topic": "orders/create", "url": "http://127.0.0.1:9/hooks/abc/shopify",
            "status": "active", "failures": 0, "created_at": sim.control("GET", "webhooks")[0]["created_at"]}]


@pytest.mark.parametrize("webhook, field, message", [
    ({"topic": "orders/create", "address": "http://127.0.0.1:9/x"}, "address", "for this topic has already been taken"),
    ({"topic": "orders/nope", "address": "https://a.example/x"}, "topic", "Invalid topic specified: orders/nope."),
    ({"topic": "orders/create", "address": "http://shop.example/x"}, "address", "protocol http:// is not supported"),
    ({"topic": "orders/create"}, "address", "can't be blank"),
])
def test_R_HOOK_4_webhooks_json_refusals_are_422_in_shopifys_shape(webhook, field, message):
    with serving("shopify", orders=3) as sim:
        subscribe(sim, "orders/create", "http://127.0.0.1:9/x")
        response = api(sim, "POST", "webhooks.json", json={"webhook": webhook})
        assert response.status_code == 422
        assert any(m.startswith(message) for m in response.json()["errors"][field]), response.json()
        assert api(sim, "GET", "webhooks/count.json").json() == {"count": 1}


def test_R_HOOK_4_the_subscription_api_is_a_platform_api_call_and_the_control_api_is_not():
    with serving("shopify", orders=3) as sim:
        anonymous = requests.post(f"{sim.url}/admin/api/{VERSION}/webhooks.json", timeout=10,
                                  json={"webhook": {"topic": "orders/create", "address": "https://a.example/x"}})
        assert anonymous.status_code == 401
        sim.inject("503")
        assert api(sim, "GET", "webhooks.json").status_code == 503
        sim.control("GET", "webhooks")
        sim.control("GET", "webhooks/deliveries")
        paths = [r["path"] for r in sim.requests()]
        assert paths == [f"/admin/api/{VERSION}/webhooks.json"] * 2


@pytest.mark.parametrize("names", ["x", "new"])
def test_R_HOOK_1_a_change_sends_one_signed_delivery_with_the_documented_headers(names):
    prefix = "X-Shopify-" if names == "x" else "Shopify-"
    with receiving() as receiver, serving("shopify", orders=3, hook_headers=names) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/hooks/t/shopify")
        subscribe(sim, "orders/updated", f"{receiver.url}/hooks/t/shopify")
        order = add_order(sim)
        first = receiver.wait_for(1)[0]
        headers = first["headers"]
        assert first["method"] == "POST" and first["path"] == "/hooks/t/shopify"
        assert headers[prefix + "Topic"] == "orders/create"
        assert hmac.compare_digest(headers[prefix + "Hmac-Sha256"], signature(first["body"]))
        assert headers[prefix + "Shop-Domain"] == "orderdock-sim.myshopify.com"
        assert headers[prefix + "API-Version"] == VERSION
        assert headers[prefix + "Triggered-At"].endswith("Z")
        assert headers[prefix + "Webhook-Id"] and headers[prefix + "Event-Id"]
        assert not any(name.startswith("X-Shopify-") for name in headers) or names == "x"
        body = json.loads(first["body"])  # bare, as the REST API renders the order
        assert body == api(sim, "GET", f"orders/{order['id']}.json").json()["order"]

        bump_quantity(sim, order)  # an order edit: orders/updated (orders/edited has no subscriber)
        second = receiver.wait_for(2)[1]
        assert second["headers"][prefix + "Topic"] == "orders/updated"
        assert hmac.compare_digest(second["headers"][prefix + "Hmac-Sha256"], signature(second["body"]))
        assert second["headers"][prefix + "Webhook-Id"] != headers[prefix + "Webhook-Id"]
        assert json.loads(second["body"])["line_items"][0]["current_quantity"] == \
            order["line_items"][0]["current_quantity"] + 1
        rows = sim.wait_deliveries(lambda rows: len(rows) == 2 and all(r["status_code"] == 200 for r in rows))
        assert [(r["topic"], r["order_id"], r["attempt"], r["fault"]) for r in rows] == \
            [("orders/create", order["id"], 1, None), ("orders/updated", order["id"], 1, None)]


def test_R_HOOK_1_a_cancel_sends_cancelled_and_updated_with_one_event_id():
    with receiving() as receiver, serving("shopify", orders=3) as sim:
        for topic in ("orders/cancelled", "orders/updated"):
            subscribe(sim, topic, f"{receiver.url}/{topic}")
        order = add_order(sim)  # orders/create: no subscriber
        sim.control("POST", f"orders/{order['id']}/state", json={"cancel": True})
        # Two subscriptions: their deliveries go in parallel.
        got = sorted(receiver.wait_for(2), key=lambda r: r["headers"]["X-Shopify-Topic"])
        assert [r["headers"]["X-Shopify-Topic"] for r in got] == ["orders/cancelled", "orders/updated"]
        assert got[0]["headers"]["X-Shopify-Event-Id"] == got[1]["headers"]["X-Shopify-Event-Id"]
        assert got[0]["headers"]["X-Shopify-Webhook-Id"] != got[1]["headers"]["X-Shopify-Webhook-Id"]
        assert json.loads(got[0]["body"])["cancelled_at"]


def test_R_HOOK_1_a_failed_delivery_is_retried_with_the_same_id_until_it_succeeds():
    answers = iter([500, 503])
    with receiving(lambda request: next(answers, 200)) as receiver, \
            serving("shopify", orders=3, hook_retry_seconds=0.02) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/h")
        add_order(sim)
        got = receiver.wait_for(3)
        assert len({r["headers"]["X-Shopify-Webhook-Id"] for r in got}) == 1
        assert len({r["body"] for r in got}) == 1
        rows = sim.wait_deliveries(lambda rows: len(rows) == 3 and rows[-1]["status_code"] == 200)
        assert [(r["attempt"], r["status_code"]) for r in rows] == [(1, 500), (2, 503), (3, 200)]
        assert sim.control("GET", "webhooks")[0]["failures"] == 0


def test_R_HOOK_1_eight_failed_retries_delete_the_subscription():
    with receiving(lambda request: 500) as receiver, serving("shopify", orders=3, hook_retry_seconds=0.01) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/h")
        add_order(sim)
        receiver.wait_for(9)
        rows = sim.wait_deliveries(lambda rows: len(rows) == 9)
        assert [r["attempt"] for r in rows] == list(range(1, 10))
        assert len({r["delivery_id"] for r in rows}) == 1
        gaps = [b["sent_at"] - a["sent_at"] for a, b in zip(rows, rows[1:])]
        assert gaps[-1] > 4 * gaps[0]  # exponential: 0.01 s doubling up to 1.28 s
        assert api(sim, "GET", "webhooks/count.json").json() == {"count": 0}
        add_order(sim)  # nothing left to send to
        assert sim.control("GET", "webhooks/queue") == {"pending": 0, "in_flight": 0, "held": 0}
        assert len(sim.deliveries()) == 9


def test_R_HOOK_1_an_unreachable_address_counts_as_a_failure_and_other_hosts_are_never_contacted():
    with serving("shopify", orders=3, hook_retry_seconds=30) as sim:
        subscribe(sim, "orders/create", "http://127.0.0.1:9/closed")
        subscribe(sim, "orders/create", "https://orderdock.example/hooks/t/shopify")
        add_order(sim)
        rows = sim.wait_deliveries(lambda rows: len(rows) == 2)
        errors = sorted(r["error"] for r in rows)
        assert errors[0].startswith("connection error") and errors[1] == NOT_LOOPBACK
        assert all(r["status_code"] is None for r in rows)


def test_R_HOOK_4_a_deleted_subscription_gets_nothing_more():
    with receiving() as receiver, serving("shopify", orders=3) as sim:
        gone = subscribe(sim, "orders/create", f"{receiver.url}/gone")
        subscribe(sim, "orders/create", f"{receiver.url}/kept")
        add_order(sim)
        receiver.wait_for(2)
        assert api(sim, "DELETE", f"webhooks/{gone['id']}.json").status_code == 200
        add_order(sim)
        got = receiver.wait_for(3)
        assert [r["path"] for r in got[2:]] == ["/kept"]
        assert [r["subscription_id"] for r in sim.deliveries()].count(gone["id"]) == 1


def test_R_HOOK_3_duplicate_sends_the_same_delivery_twice_in_a_row():
    with receiving() as receiver, serving("shopify", orders=3) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/h")
        assert sim.control("POST", "webhooks/faults", json={"kind": "duplicate"}) == {"queued": 1}
        add_order(sim)
        add_order(sim)  # the fault was for one delivery only
        by_id: dict[str, list[dict]] = {}
        for request in receiver.wait_for(3):  # two orders: their deliveries may cross
            by_id.setdefault(request["headers"]["X-Shopify-Webhook-Id"], []).append(request)
        (first, again), (other,) = sorted(by_id.values(), key=len, reverse=True)
        assert first["headers"] == again["headers"] and first["body"] == again["body"]
        assert json.loads(other["body"])["id"] != json.loads(first["body"])["id"]
        rows = sim.wait_deliveries(lambda rows: len(rows) == 3)
        assert sorted(str(r["fault"]) for r in rows) == ["None", "duplicate", "duplicate"]


def test_R_HOOK_3_concurrent_duplicate_sends_it_twice_at_the_same_time():
    both_in = threading.Barrier(2, timeout=5)  # answers only when both copies are in: sequential sends would break it

    def answer(request) -> int:
        try:
            both_in.wait()
            return 200
        except threading.BrokenBarrierError:
            return 599

    with receiving(answer) as receiver, serving("shopify", orders=3) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/h")
        sim.control("POST", "webhooks/faults", json={"kind": "concurrent_duplicate"})
        add_order(sim)
        got = receiver.wait_for(2)
        assert got[0]["headers"]["X-Shopify-Webhook-Id"] == got[1]["headers"]["X-Shopify-Webhook-Id"]
        rows = sim.wait_deliveries(lambda rows: len(rows) == 2)
        assert [(r["status_code"], r["fault"]) for r in rows] == [(200, "concurrent_duplicate")] * 2


def test_R_HOOK_2_bad_signature_is_sent_once_with_a_wrong_hmac_and_never_retried():
    with receiving(lambda r: 401 if r["headers"]["X-Shopify-Hmac-Sha256"] != signature(r["body"]) else 200) \
            as receiver, serving("shopify", orders=3, hook_retry_seconds=0.01) as sim:
        subscribe(sim, "orders/updated", f"{receiver.url}/h")
        order = add_order(sim)
        sim.control("POST", "webhooks/faults", json={"kind": "bad_signature"})
        bump_quantity(sim, order)
        bump_quantity(sim, order)  # same order: a retry of the first would go before this one
        forged, honest = receiver.wait_for(2)
        assert forged["headers"]["X-Shopify-Hmac-Sha256"] != signature(forged["body"])
        assert honest["headers"]["X-Shopify-Hmac-Sha256"] == signature(honest["body"])
        rows = sim.wait_deliveries(lambda rows: len(rows) == 2)
        assert [(r["status_code"], r["fault"], r["attempt"]) for r in rows] == \
            [(401, "bad_signature", 1), (200, None, 1)]


def test_R_HOOK_3_out_of_order_sends_a_change_after_the_next_one_of_the_same_order():
    with receiving() as receiver, serving("shopify", orders=3) as sim:
        subscribe(sim, "orders/updated", f"{receiver.url}/h")
        order = add_order(sim)
        sim.control("POST", "webhooks/faults", json={"kind": "out_of_order"})
        older = bump_quantity(sim, order)["line_items"][0]["current_quantity"]
        assert sim.control("GET", "webhooks/queue")["held"] == 1
        newer = bump_quantity(sim, order)["line_items"][0]["current_quantity"]
        got = receiver.wait_for(2)
        assert [json.loads(r["body"])["line_items"][0]["current_quantity"] for r in got] == [newer, older]


def test_R_HOOK_6_drop_never_sends_it_and_says_so_in_the_log():
    with receiving() as receiver, serving("shopify", orders=3) as sim:
        subscribe(sim, "orders/create", f"{receiver.url}/h")
        sim.control("POST", "webhooks/faults", json={"kind": "drop", "count": 2})
        sim.control("DELETE", "webhooks/faults")
        sim.control("POST", "webhooks/faults", json={"kind": "drop"})
        dropped, sent = add_order(sim), add_order(sim)
        got = receiver.wait_for(1)
        assert [json.loads(r["body"])["id"] for r in got] == [sent["id"]]
        rows = sim.wait_deliveries(lambda rows: len(rows) == 2)
        assert (rows[0]["order_id"], rows[0]["status_code"], rows[0]["error"], rows[0]["fault"]) == \
            (dropped["id"], None, "dropped by fault", "drop")
        assert sim.control("GET", "webhooks/deliveries", params={"order_id": sent["id"]})[0]["status_code"] == 200


def test_the_faults_switch_refuses_unknown_kinds():
    with serving("shopify", orders=3) as sim:
        response = requests.post(f"{sim.url}/_sim/webhooks/faults", json={"kind": "slow"}, timeout=10)
        assert response.status_code == 400 and "duplicate" in response.json()["error"]
        assert sim.control("POST", "webhooks/flush") == {"flushed": 0}  # Cartum's queue only


def test_the_demo_page_lists_the_subscriptions():
    with serving("shopify", orders=3) as sim:
        page = requests.get(f"{sim.url}/_sim/", timeout=10).text
        assert "<h2>Webhooks</h2>" in page and "No webhooks are registered" in page
        subscribe(sim, "orders/updated", "http://127.0.0.1:9/hooks/t/shopify")
        page = requests.get(f"{sim.url}/_sim/", timeout=10).text
        assert "<td>orders/updated</td>" in page and "http://127.0.0.1:9/hooks/t/shopify" in page
        assert "next sync (every 5 minutes)" in " ".join(page.split())
