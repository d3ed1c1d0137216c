"""The WooCommerce simulator's webhooks (simulators/webhooks.py, woocommerce.md B9): the REST
``/wc/v3/webhooks`` resource, the unsigned creation ping, signed deliveries to a receiver on
loopback, WooCommerce's failure count (no retries, disabled after more than 5 failures) and
the test switches. Real loopback HTTP both ways; bounded waits, no fixed sleeps.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests

from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.simulators import receiving, serving

AUTH = (CONSUMER_KEY, CONSUMER_SECRET)
SECRET = "wh-secret-&-more"
UA = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"


def api(sim, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sim.url}/wp-json/wc/v3/{path}", auth=AUTH, timeout=10, **kwargs)


def subscribe(sim, topic: str, url: str, **fields) -> dict:
    response = api(sim, "POST", "webhooks", json={"name": "Orderdock", "topic": topic, "delivery_url": url,
                                                  "secret": SECRET, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def signature(body: bytes, key: str = SECRET) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def an_order(sim) -> int:
    return sim.control("POST", "orders", json={"status": "processing"})["ids"][0]


def change(sim, order_id: int, status: str) -> None:
    sim.control("POST", f"orders/{order_id}/status", json={"status": status})


def test_R_HOOK_4_the_webhooks_resource_creates_reads_updates_and_deletes():
    with serving("woocommerce", orders=3) as sim:
        created = api(sim, "POST", "webhooks", json={"name": "Orderdock", "topic": "order.updated", "secret": SECRET,
                                                      "delivery_url": "http://127.0.0.1:9/hooks/t/woocommerce"})
        assert created.status_code == 201 and created.headers["Location"].endswith(f"/webhooks/{created.json()['id']}")
        hook = created.json()
        assert "secret" not in hook
        assert (hook["status"], hook["resource"], hook["event"]) == ("active", "order", "updated")
        assert hook["hooks"] == ["woocommerce_update_order", "woocommerce_order_refunded"]
        assert set(hook) >= {"date_created", "date_created_gmt", "date_modified", "date_modified_gmt", "_links"}

        listed = api(sim, "GET", "webhooks")
        assert [w["id"] for w in listed.json()] == [hook["id"]] and listed.headers["X-WP-Total"] == "1"
        paused = api(sim, "PUT", f"webhooks/{hook['id']}", json={"status": "paused"})
        assert paused.json()["status"] == "paused"
        assert api(sim, "GET", "webhooks", params={"status": "active"}).json() == []

        not_forced = api(sim, "DELETE", f"webhooks/{hook['id']}")
        assert (not_forced.status_code, not_forced.json()["code"]) == (501, "woocommerce_rest_trash_not_supported")
        deleted = api(sim, "DELETE", f"webhooks/{hook['id']}", params={"force": "true"})
        assert deleted.status_code == 200 and deleted.json()["id"] == hook["id"]
        again = api(sim, "GET", f"webhooks/{hook['id']}")
        assert (again.status_code, again.json()["code"]) == (400, "woocommerce_rest_shop_webhook_invalid_id")
        assert api(sim, "DELETE", f"webhooks/{hook['id']}", params={"force": "true"}).status_code == 404
        assert [r["path"] for r in sim.requests()].count("/wp-json/wc/v3/webhooks") == 3  # API calls, counted


@pytest.mark.parametrize("fields, code", [
    ({"topic": "order.shipped", "delivery_url": "http://127.0.0.1:9/x"}, "woocommerce_rest_shop_webhook_invalid_topic"),
    ({"topic": "order.created", "delivery_url": "ftp://127.0.0.1/x"},
     "woocommerce_rest_shop_webhook_invalid_delivery_url"),
    ({"topic": "order.created"}, "woocommerce_rest_shop_webhook_invalid_delivery_url"),
])
def test_R_HOOK_4_invalid_topics_and_urls_are_refused_with_woocommerces_codes(fields, code):
    with serving("woocommerce", orders=3) as sim:
        response = api(sim, "POST", "webhooks", json=fields)
        assert (response.status_code, response.json()["code"]) == (400, code)
        assert api(sim, "GET", "webhooks").json() == []


def test_R_HOOK_4_writing_webhooks_needs_a_key_with_write_permission():
    with serving("woocommerce", orders=3, permissions="read") as sim:
        response = api(sim, "POST", "webhooks", json={"topic": "order.created", "delivery_url": "http://127.0.0.1:9/x"})
        assert response.status_code == 401


def test_the_creation_ping_is_an_unsigned_form_post_and_its_failure_changes_nothing():
    with receiving(lambda request: 500) as receiver, serving("woocommerce", orders=3) as sim:
        # Sent inside the create request: it has arrived when the 201 comes back.
        hook = subscribe(sim, "order.created", f"{receiver.url}/hooks/t/woocommerce", status="paused")
        ping = receiver.received[0]
        assert (ping["method"], ping["body"]) == ("POST", f"webhook_id={hook['id']}".encode())
        assert ping["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert ping["headers"]["User-Agent"] == UA
        assert not any(name.startswith("X-WC-Webhook") for name in ping["headers"])
        assert hook["status"] == "active"  # the controller saves a new webhook active, whatever "status" says
        assert [(r["topic"], r["status_code"]) for r in sim.deliveries()] == [("ping", 500)]
        closed = subscribe(sim, "order.created", "http://127.0.0.1:9/closed")
        assert closed["status"] == "active"


def test_R_HOOK_5_an_order_written_through_the_api_sends_a_signed_order_updated():
    with receiving() as receiver, serving("woocommerce", orders=3) as sim:
        hook = subscribe(sim, "order.updated", f"{receiver.url}/hooks/t/woocommerce")
        order_id = an_order(sim)  # order.created: no subscriber
        assert api(sim, "PUT", f"orders/{order_id}", json={"status": "completed"}).status_code == 200
        ping, delivery = receiver.wait_for(2)
        headers = delivery["headers"]
        assert delivery["method"] == "POST" and headers["Content-Type"] == "application/json"
        assert hmac.compare_digest(headers["X-WC-Webhook-Signature"], signature(delivery["body"]))
        assert headers["User-Agent"] == UA
        assert (headers["X-WC-Webhook-Topic"], headers["X-WC-Webhook-Resource"], headers["X-WC-Webhook-Event"]) == \
            ("order.updated", "order", "updated")
        assert headers["X-WC-Webhook-ID"] == str(hook["id"])
        assert headers["X-WC-Webhook-Source"] == f"{sim.url}/"
        assert len(headers["X-WC-Webhook-Delivery-ID"]) == 32
        assert b"\\/" in delivery["body"]  # PHP's json_encode escapes slashes: verify the raw bytes
        assert json.loads(delivery["body"]) == api(sim, "GET", f"orders/{order_id}").json()
        assert json.loads(delivery["body"])["status"] == "completed"


def test_R_HOOK_1_new_trashed_and_restored_orders_send_their_topics():
    with receiving() as receiver, serving("woocommerce", orders=3) as sim:
        for topic in ("order.created", "order.deleted", "order.restored"):
            subscribe(sim, topic, f"{receiver.url}/{topic}")
        order_id = an_order(sim)
        change(sim, order_id, "trash")
        change(sim, order_id, "processing")
        got = {r["headers"]["X-WC-Webhook-Topic"]: r for r in receiver.wait_for(6)[3:]}  # 3 webhooks: in parallel
        assert sorted(got) == ["order.created", "order.deleted", "order.restored"]
        assert json.loads(got["order.deleted"]["body"]) == {"id": order_id}
        assert json.loads(got["order.restored"]["body"])["status"] == "processing"


def test_R_HOOK_1_deliveries_are_not_retried_and_the_7th_failure_in_a_row_disables_the_webhook():
    answers = iter([500, 500, 200] + [500] * 7)
    with receiving(lambda request: 200 if request["body"].startswith(b"webhook_id=") else next(answers)) as receiver, \
            serving("woocommerce", orders=3, hook_retry_seconds=0.01) as sim:
        hook = subscribe(sim, "order.updated", f"{receiver.url}/h")
        order_id = an_order(sim)
        statuses = ["on-hold", "processing"] * 5
        for number, status in enumerate(statuses, start=1):  # one delivery at a time: each one's outcome counts
            change(sim, order_id, status)
            receiver.wait_for(1 + number)
            sim.wait_deliveries(lambda rows: len(rows) == 1 + number and rows[-1]["status_code"] is not None)
            if number == 3:
                assert sim.control("GET", "webhooks")[0]["failures"] == 0  # a success resets the count
        rows = sim.deliveries(topic="order.updated")
        assert [r["attempt"] for r in rows] == [1] * 10  # never a retry
        assert api(sim, "GET", f"webhooks/{hook['id']}").json()["status"] == "disabled"
        assert sim.control("GET", "webhooks")[0]["failures"] == 6
        change(sim, order_id, "on-hold")
        assert len(sim.deliveries()) == 11  # disabled: nothing is queued for this change

        api(sim, "PUT", f"webhooks/{hook['id']}", json={"status": "active"})  # the count stays at 6
        receiver.answer = lambda request: 500
        change(sim, order_id, "processing")
        sim.wait_deliveries(lambda rows: len(rows) == 12 and rows[-1]["status_code"] == 500)
        assert api(sim, "GET", f"webhooks/{hook['id']}").json()["status"] == "disabled"


def test_R_HOOK_4_paused_and_deleted_webhooks_get_nothing():
    with receiving() as receiver, serving("woocommerce", orders=3) as sim:
        paused = subscribe(sim, "order.updated", f"{receiver.url}/paused")
        deleted = subscribe(sim, "order.updated", f"{receiver.url}/deleted")
        subscribe(sim, "order.updated", f"{receiver.url}/kept")
        api(sim, "PUT", f"webhooks/{paused['id']}", json={"status": "paused"})
        api(sim, "DELETE", f"webhooks/{deleted['id']}", params={"force": "true"})
        change(sim, an_order(sim), "on-hold")
        got = receiver.wait_for(4)
        assert [r["path"] for r in got[3:]] == ["/kept"]
        assert [r["path"] for r in receiver.received].count("/kept") == 2  # its ping and this change


def test_R_HOOK_3_deliveries_of_one_webhook_in_one_second_share_a_delivery_id():
    with receiving() as receiver, serving("woocommerce", orders=3) as sim:
        subscribe(sim, "order.updated", f"{receiver.url}/h")
        order_id = an_order(sim)
        for status in ("on-hold", "processing", "on-hold"):
            change(sim, order_id, status)
        rows = sim.wait_deliveries(lambda rows: len(rows) == 3, topic="order.updated")
        for a, b in zip(rows, rows[1:]):
            same_second = int(a["sent_at"]) == int(b["sent_at"])
            assert (a["delivery_id"] == b["delivery_id"]) == same_second  # wp_hash(id . time())
        assert len({json.loads(r["body"])["status"] for r in receiver.wait_for(4)[1:]}) == 2


def test_R_HOOK_3_duplicate_sends_the_same_delivery_id_and_signature_twice():
    with receiving() as receiver, serving("woocommerce", orders=3) as sim:
        subscribe(sim, "order.created", f"{receiver.url}/h")
        sim.control("POST", "webhooks/faults", json={"kind": "duplicate"})
        an_order(sim)
        ping, first, again = receiver.wait_for(3)
        assert first["headers"] == again["headers"] and first["body"] == again["body"]
