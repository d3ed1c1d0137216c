"""R-IMP-4 on Cartum, which cannot list changed orders: a 5-minute sync (R-IMP-3) re-reads its open
orders by id in rotation, the longest not re-read first, in a bounded number of requests whatever
the shop's size (issue 13). Each open order is re-read within CARTUM_REREAD_MINUTES while they fit
the bound; beyond it the bound wins and a round takes longer, but every change still comes in.

The bound is made small here (20 orders a request, 2 requests a sync) so that a shop of a few
hundred orders is "big"; the syncs run in the foreground, each 5 minutes after the last (its
``synced_until`` moved back), as the scheduler would run them. Requests are counted on the
simulator's ``/_sim/stats`` and its request log."""
from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.integration.test_R_IMP_3_syncs_ask_only_for_what_they_need import imported_store, paths
from tests.integration.test_sync_jobs import change_quantity, fresh, quick_budget  # noqa: F401
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Order, OrderItem, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.platforms import cartum
from webapp.sync import jobs

PER_REQUEST, REQUESTS = 20, 2
BOUND = REQUESTS * PER_REQUEST  # open orders one sync re-reads at most
SYNC_EVERY = timedelta(minutes=5)


@pytest.fixture
def small_bound(monkeypatch):
    monkeypatch.setattr(cartum, "MAX_PAGE_SIZE", PER_REQUEST)  # the adapter's ids per request
    monkeypatch.setattr(jobs, "REREAD_REQUESTS", REQUESTS, raising=False)


def open_ids(store_id: int) -> list[str]:
    return list(db.session.scalars(jobs._open_order_ids(store_id).order_by(Order.id)))


def tick(sim, store_id: int) -> list[dict]:
    """One sync, 5 minutes after the last: the requests it made (their count is the stats')."""
    store = db.session.get(Store, store_id)
    store.synced_until = utcnow() - SYNC_EVERY
    db.session.commit()
    before, logged = sim.stats()["requests"], len(sim.requests())
    run = fresh(SyncRun, jobs.sync_store(store_id))
    assert run.state == RunState.SUCCEEDED, run.error
    calls = sim.requests()[logged:]
    assert sim.stats()["requests"] - before == len(calls)
    return calls


def reread(calls: list[dict]) -> list[str]:
    """The order ids a sync asked for by id."""
    return [str(i) for call in paths(calls, "/orders/get") for i in (call["json"] or {}).get("ids") or ()]


def quantities(store_id: int, external_id: str) -> list[Decimal]:
    order = db.session.scalar(select(Order).filter_by(store_id=store_id, external_id=external_id))
    return list(db.session.scalars(select(OrderItem.quantity).filter_by(order_id=order.id)))


def test_R_IMP_4_R_IMP_3_more_open_orders_than_a_sync_may_reread_are_reread_in_rotation(app, office, redis,
                                                                                     small_bound):
    """CARTUM_REREAD_MINUTES 10 asks for half the open orders every 5 minutes; more than the
    bound are open, so each sync re-reads the bound and no more, the ones re-read longest ago
    first, and a change to the order re-read last comes in when the rotation reaches it."""
    app.config["CARTUM_REREAD_MINUTES"] = 10
    with serving("cartum", orders=240) as sim:
        store_id = imported_store("cartum", sim)
        opened = open_ids(store_id)
        assert len(opened) > 2 * BOUND, "the shop must have more open orders than the bound allows"

        first = tick(sim, store_id)
        assert reread(first) == opened[:BOUND]  # never re-read: by id
        # One sign-in, a page of new orders, the bound's re-reads; every article is known.
        assert len(first) <= 1 + 1 + REQUESTS and len(paths(first, "/api/auth")) == 1
        last = opened[BOUND - 1]  # re-read in the first sync, so the last in line now
        change_quantity("cartum", sim, last, 9)

        rounds = math.ceil(len(opened) / BOUND)
        seen = set(reread(first))
        for number in range(rounds):
            assert Decimal(9) not in quantities(store_id, last), "came in before the rotation reached it"
            calls = tick(sim, store_id)
            asked = reread(calls)
            assert len(paths(calls, "/orders/get")) - 1 <= REQUESTS and len(asked) <= BOUND  # the bound holds
            assert len(calls) <= 1 + 1 + REQUESTS
            seen.update(asked)
        assert Decimal(9) in quantities(store_id, last)
        assert seen >= set(opened)
        never = select(func.count(Order.id)).where(Order.external_id.in_(opened), Order.reread_at.is_(None))
        assert db.session.scalar(never) == 0


def test_R_IMP_4_open_orders_within_the_bound_are_each_reread_within_the_minutes(app, office, redis, small_bound):
    """At the default 30 minutes a sync re-reads a sixth of the open orders, in whole requests,
    the longest not re-read first: not all of them at every sync, and each within six syncs."""
    with serving("cartum", orders=120) as sim:
        store_id = imported_store("cartum", sim)
        opened = open_ids(store_id)
        assert PER_REQUEST < len(opened) <= 6 * BOUND
        share = PER_REQUEST * math.ceil(math.ceil(len(opened) / 6) / PER_REQUEST)
        seen: set[str] = set()
        for _ in range(6):
            asked = reread(tick(sim, store_id))
            assert len(asked) == share < len(opened)
            seen.update(asked)
        assert seen >= set(opened)


def test_R_ORD_4_an_order_updated_by_hand_counts_as_reread(app, office, redis, small_bound):
    """The order's update button (R-ORD-4, and R-ORD-3's bulk update) re-reads it: the rotation
    takes the orders not re-read first, and the state is in the database, kept across restarts."""
    with serving("cartum", orders=120) as sim:
        store_id = imported_store("cartum", sim)
        opened = open_ids(store_id)
        by_hand = opened[:PER_REQUEST]
        run = fresh(SyncRun, jobs.sync_orders(store_id, by_hand))
        assert run.state == RunState.SUCCEEDED, run.error
        assert db.session.scalar(select(func.count(Order.id)).where(
            Order.external_id.in_(by_hand), Order.reread_at.is_not(None))) == len(by_hand)
        asked, rest = reread(tick(sim, store_id)), [i for i in opened if i not in by_hand]
        assert asked[:len(rest)] == rest[:len(asked)]  # the ones not re-read first
