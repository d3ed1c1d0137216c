"""The Cartum simulator's webhooks (simulators/webhooks.py, cartum.md A.7): ``hooks/subscribe``
and ``hooks/unSubscribe`` through the API, unsigned PUT deliveries held in a queue that a cron
(``hook_flush_seconds``) or ``POST /_sim/webhooks/flush`` empties, retries, the Pro plan, and
the test switches. Real loopback HTTP both ways; bounded waits, no fixed sleeps.
"""
from __future__ import annotations

import json

import pytest
import requests

from tests.support.simulators import receiving, serving

SLOW_CRON = {"hook_flush_seconds": 300}  # the real shop's 5 minutes: only a flush sends


def call(sim, function: str, **body) -> requests.Response:
    return requests.post(f"{sim.url}/api/{function}/", json=body, timeout=10)


def token(sim) -> str:
    return call(sim, "auth", login="manager", password="cartum-demo").json()["response"]["token"]


def subscribe(sim, event: str, url: str, auth: str | None = None) -> int:
    response = call(sim, "hooks/subscribe", token=auth or token(sim), event=event, target_url=url)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id"}  # not in the envelope
    return response.json()["id"]


def push_status(sim, number: int, status: int) -> None:
    answer = call(sim, "orders/update", token=token(sim), orders=[{"order_id": number, "status": status}]).json()
    assert answer["status"] == "OK", answer


def open_order(sim) -> int:
    body = {"products": [{"article": "CT-1001", "quantity": 1}], "status": 2}
    return sim.control("POST", "orders", json=body)["order"]["order_id"]


def queued(sim) -> int:
    return sim.control("GET", "webhooks/queue")["pending"]


def test_R_HOOK_4_subscribe_and_unsubscribe_answer_outside_the_envelope():
    with serving("cartum", orders=3) as sim:
        auth = token(sim)
        ids = [subscribe(sim, "order_update", f"http://127.0.0.1:9/h{i}", auth) for i in range(5)]
        assert ids == [1, 2, 3, 4, 5]
        sixth = call(sim, "hooks/subscribe", token=auth, event="order_update", target_url="http://127.0.0.1:9/h6")
        assert sixth.json() == {"status": "ERROR",
                                "response": {"message": "Subscriptions limit for current event has been reached"}}
        assert call(sim, "hooks/subscribe", token=auth, event="order_shipped",
                    target_url="http://127.0.0.1:9/x").json()["status"] == "ERROR"
        assert call(sim, "hooks/subscribe", event="order_created",
                    target_url="http://127.0.0.1:9/x").json()["status"] == "UNAUTHORIZED"

        wrong_url = call(sim, "hooks/unSubscribe", token=auth, id=1, target_url="http://127.0.0.1:9/h2")
        assert wrong_url.json()["status"] == "ERROR"
        gone = call(sim, "hooks/unSubscribe", token=auth, id=1, target_url="http://127.0.0.1:9/h0")
        assert (gone.status_code, gone.json()) == (410, {"id": 1})
        assert [h["id"] for h in sim.control("GET", "webhooks")] == [2, 3, 4, 5]
        assert subscribe(sim, "order_update", "http://127.0.0.1:9/h6", auth) == 6  # a free place again
        assert sum(r["path"].startswith("/api/hooks/") for r in sim.requests()) == 11  # API calls, counted


def test_R_HOOK_5_a_status_pushed_through_the_api_waits_in_the_queue_until_flushed():
    with receiving() as receiver, serving("cartum", orders=3, **SLOW_CRON) as sim:
        subscribe(sim, "order_update", f"{receiver.url}/hooks/t/cartum")
        number = open_order(sim)
        push_status(sim, number, 6)
        assert queued(sim) == 1 and receiver.received == []
        assert sim.control("POST", "webhooks/flush") == {"flushed": 1}
        delivery = receiver.wait_for(1)[0]
        assert delivery["method"] == "PUT" and delivery["path"] == "/hooks/t/cartum"
        assert delivery["headers"]["Content-Type"].startswith("application/json")
        assert not any("signature" in name.lower() or "hmac" in name.lower() for name in delivery["headers"])
        body = json.loads(delivery["body"])
        assert body == sim.control("GET", f"orders/{number}") and body["stat_status"] == 6


def test_R_HOOK_1_the_cron_sends_the_queue_by_itself():
    with receiving() as receiver, serving("cartum", orders=3, hook_flush_seconds=0.1) as sim:
        subscribe(sim, "order_created", f"{receiver.url}/h")
        number = open_order(sim)
        assert json.loads(receiver.wait_for(1)[0]["body"])["order_id"] == number


def test_R_HOOK_1_order_update_is_sent_for_a_status_change_but_new_and_other_edits():
    with receiving() as receiver, serving("cartum", orders=3, **SLOW_CRON) as sim:
        subscribe(sim, "order_update", f"{receiver.url}/h")
        number = open_order(sim)
        sim.control("POST", f"orders/{number}/quantity", json={"index": 0, "quantity": 3})
        sim.control("POST", f"orders/{number}/delivery", json={"price": 50})
        sim.control("POST", f"orders/{number}/status", json={"status": 1})  # back to New
        push_status(sim, number, 1)  # unchanged
        assert queued(sim) == 0
        requests.post(f"{sim.url}/_sim/demo/status", data={"order_id": str(number)}, timeout=10)
        assert queued(sim) == 1


def test_R_HOOK_1_hook_update_on_any_sends_order_update_for_every_change():
    with receiving() as receiver, serving("cartum", orders=3, hook_update_on="any", **SLOW_CRON) as sim:
        subscribe(sim, "order_update", f"{receiver.url}/h")
        number = open_order(sim)
        sim.control("POST", f"orders/{number}/quantity", json={"index": 0, "quantity": 3})
        assert queued(sim) == 1
        sim.control("POST", "webhooks/flush")
        assert json.loads(receiver.wait_for(1)[0]["body"])["products"][0]["quantity"] == 3


def test_R_HOOK_1_below_the_pro_plan_subscribing_works_and_nothing_is_delivered():
    with serving("cartum", orders=3, plan="start", hook_flush_seconds=0.01) as sim:
        subscribe(sim, "order_created", "http://127.0.0.1:9/h")
        open_order(sim)
        assert queued(sim) == 0 and sim.deliveries() == []
        assert sim.control("POST", "webhooks/flush") == {"flushed": 0}
        assert "delivers no webhooks" in requests.get(f"{sim.url}/_sim/", timeout=10).text


def test_R_HOOK_1_a_failed_delivery_is_retried_10_times_at_the_next_cron_runs():
    with receiving(lambda request: 500) as receiver, \
            serving("cartum", orders=3, hook_flush_seconds=0.02, hook_retry_seconds=0.01) as sim:
        subscribe(sim, "order_created", f"{receiver.url}/h")
        open_order(sim)
        receiver.wait_for(11)
        rows = sim.wait_deliveries(lambda rows: len(rows) == 11)
        assert [r["attempt"] for r in rows] == list(range(1, 12))
        assert sim.control("GET", "webhooks/queue") == {"pending": 0, "in_flight": 0, "held": 0}
        assert len(sim.control("GET", "webhooks")) == 1  # kept: Cartum deletes nothing


def test_R_HOOK_1_a_retry_waiting_for_the_cron_goes_with_the_next_flush():
    answers = iter([500])
    with receiving(lambda request: next(answers, 200)) as receiver, \
            serving("cartum", orders=3, hook_retry_seconds=0.01, **SLOW_CRON) as sim:
        subscribe(sim, "order_created", f"{receiver.url}/h")
        open_order(sim)
        sim.control("POST", "webhooks/flush")
        sim.wait_deliveries(lambda rows: len(rows) == 1 and rows[0]["status_code"] == 500)
        sim.wait_deliveries(lambda rows: queued(sim) == 1)
        sim.control("POST", "webhooks/flush")
        first, second = receiver.wait_for(2)
        assert first["body"] == second["body"]
        assert [r["status_code"] for r in sim.wait_deliveries(lambda rows: len(rows) == 2)] == [500, 200]


def test_R_HOOK_4_a_subscription_removed_in_the_shop_tells_its_target_by_delete():
    with receiving() as receiver, serving("cartum", orders=3, **SLOW_CRON) as sim:
        hook = subscribe(sim, "order_created", f"{receiver.url}/hooks/t/cartum")
        assert sim.control("DELETE", f"webhooks/{hook}")["id"] == hook
        assert (receiver.wait_for(1)[0]["method"], receiver.received[0]["path"]) == ("DELETE", "/hooks/t/cartum")
        open_order(sim)
        assert queued(sim) == 0


def test_R_HOOK_6_drop_and_out_of_order_on_the_queue():
    with receiving() as receiver, serving("cartum", orders=3, **SLOW_CRON) as sim:
        subscribe(sim, "order_update", f"{receiver.url}/h")
        number = open_order(sim)
        sim.control("POST", "webhooks/faults", json={"kind": "drop"})
        sim.control("POST", "webhooks/faults", json={"kind": "out_of_order"})
        push_status(sim, number, 6)  # dropped
        push_status(sim, number, 8)  # held back
        push_status(sim, number, 3)  # sent first, then the held one
        sim.control("POST", "webhooks/flush")
        got = receiver.wait_for(2)
        assert [json.loads(r["body"])["stat_status"] for r in got] == [3, 8]
        assert sim.deliveries()[0]["error"] == "dropped by fault"


def test_bad_signature_is_refused_on_cartum_which_signs_nothing():
    with serving("cartum", orders=3) as sim:
        response = requests.post(f"{sim.url}/_sim/webhooks/faults", json={"kind": "bad_signature"}, timeout=10)
        assert response.status_code == 400 and "signs no webhook" in response.json()["error"]


@pytest.mark.parametrize("count", [0, "x"])
def test_the_faults_switch_wants_a_count_of_one_or_more(count):
    with serving("cartum", orders=3) as sim:
        response = requests.post(f"{sim.url}/_sim/webhooks/faults", json={"kind": "drop", "count": count}, timeout=10)
        assert response.status_code == 400
