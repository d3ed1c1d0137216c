"""What an initial import and a 5-minute sync cost, per platform, against the simulators.

For each platform: a simulator on loopback seeded with N orders over 90 days, a store connected
to it in a fresh SQLite database, then
  1. the initial import (R-IMP-2) run in the foreground, as `flask stores sync --initial` does;
  2. a sync with nothing changed on the shop;
  3. a sync after K new orders and K quantity changes on the shop.
Prints wall time, orders per second, and the API requests the shop received. The per-shop
request budget (2/s for Cartum and WooCommerce) is lifted with --unthrottled, to measure our
own cost rather than the politeness we owe a real shop. Loopback only, and a redis-server of
its own (never the one at REDIS_URL or on 6379: the bench flushes its Redis).

    .venv/bin/python bench/import_sync.py [--orders 1500] [--changes 10] [--unthrottled]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"  # R-SEC-1: the simulated shops live on loopback

import requests  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import simulators  # noqa: E402
from simulators import woocommerce as woo_sim  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db, redis_client  # noqa: E402
from webapp.models import Order, SyncRun  # noqa: E402
from webapp.platforms import PLATFORMS  # noqa: E402
from webapp.stores_cli import StoreSpec, connect  # noqa: E402
from webapp.sync import jobs  # noqa: E402
from tests.support.redis_server import PrivateRedis  # noqa: E402

CREDENTIALS = {"cartum": {"login": "manager", "password": "cartum-demo"}, "shopify": {"access_token": "shpat_simulator"},
               "woocommerce": {"consumer_key": woo_sim.CONSUMER_KEY,
                               "consumer_secret": woo_sim.CONSUMER_SECRET}}


class Shop:
    """A simulator served on a free loopback port in a thread."""

    def __init__(self, platform: str, orders: int) -> None:
        self.server = make_server("127.0.0.1", 0, simulators.create_app(platform, orders=orders), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def control(self, method: str, path: str, **kwargs):
        answer = requests.request(method, f"{self.url}/_sim/{path}", timeout=10, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def requests_made(self) -> int:
        return self.control("GET", "stats")["requests"]


def changes(platform: str, shop: Shop, order_ids: list[str], count: int) -> None:
    """``count`` new orders and ``count`` quantity changes on the shop."""
    for external_id in order_ids[:count]:
        if platform == "cartum":
            shop.control("POST", f"orders/{external_id}/quantity", json={"index": 0, "quantity": 7})
        else:
            path = "line_items" if platform == "shopify" else "items"
            line = shop.control("GET", f"orders/{external_id}")["line_items"][0]["id"]
            shop.control("POST", f"orders/{external_id}/{path}/{line}", json={"quantity": 7})
    for _ in range(count):
        if platform == "cartum":
            shop.control("POST", "orders", json={"products": [{"article": "CT-1010", "quantity": 1}],
                                                 "delivery_name": "Nina Berg", "delivery_phone": "+49 30 5550101",
                                                 "currency": "EUR", "status": 1})
        elif platform == "shopify":
            shop.control("POST", "orders", json={"buyer": "new", "currency": "EUR"})
        else:
            shop.control("POST", "orders", json={"count": 1, "status": "processing", "contact": "full",
                                                 "currency": "EUR"})


def timed(shop: Shop, job, store_id: int) -> tuple[float, int, SyncRun]:
    before, start = shop.requests_made(), time.perf_counter()
    run_id = job(store_id)
    seconds = time.perf_counter() - start
    run = db.session.get(SyncRun, run_id)
    assert run.state.value == "succeeded", run.error
    return seconds, shop.requests_made() - before, run


def bench_platform(platform: str, orders: int, count: int, redis_url: str) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "REDIS_URL": redis_url,
                          "INSTANCE_PATH": folder, "SECRET_KEY": "bench", "CURRENCY": "EUR"})
        shop = Shop(platform, orders)
        with app.app_context():
            from webapp.demo import seed
            upgrade()
            seed()
            redis_client().flushdb()
            spec = StoreSpec(platform, f"Bench {platform}", shop.url, "Main workshop", "Online order",
                             CREDENTIALS[platform], guess_statuses=True, language="en" if platform == "cartum" else "")
            store = connect(spec)
            db.session.add(store)
            db.session.commit()
            store_id, lines = store.id, []
            seconds, calls, run = timed(shop, jobs.initial_import, store_id)
            lines.append(f"{platform:<12} initial import  {seconds:7.2f} s  {run.fetched:5d} read "
                         f"{run.created:5d} imported  {run.fetched / seconds:7.1f} orders/s  {calls:4d} requests")
            seconds, calls, run = timed(shop, jobs.sync_store, store_id)
            lines.append(f"{platform:<12} sync, no change {seconds:7.2f} s  {run.fetched:5d} read "
                         f"{run.created:5d} new       {'':>15}  {calls:4d} requests")
            ids = list(db.session.scalars(select(Order.external_id).where(Order.store_id == store_id)
                                          .order_by(Order.id.desc()).limit(count)))
            changes(platform, shop, ids, count)
            seconds, calls, run = timed(shop, jobs.sync_store, store_id)
            total = db.session.scalar(select(func.count(Order.id)).where(Order.store_id == store_id))
            lines.append(f"{platform:<12} sync, {count} new + {count} changed {seconds:5.2f} s  {run.fetched:5d} read "
                         f"{run.created:3d} new {run.updated:3d} updated  {calls:4d} requests  ({total} orders in all)")
            db.session.remove()
        shop.server.shutdown()
        return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500, help="orders per simulated shop (over 90 days)")
    parser.add_argument("--changes", type=int, default=10, help="new and changed orders before the last sync")
    parser.add_argument("--unthrottled", action="store_true", help="lift the 2 requests/s per-shop budget")
    args = parser.parse_args()
    if args.unthrottled:
        for adapter in PLATFORMS.values():
            adapter.RATE = "1000/second"
    with tempfile.TemporaryDirectory() as instance:
        redis = PrivateRedis(Path(instance) / "redis")
        url = redis.url
        try:
            print(f"{args.orders} orders per shop over 90 days; budget "
                  f"{'lifted' if args.unthrottled else 'as in production'}; SQLite")
            for platform in PLATFORMS:
                for line in bench_platform(platform, args.orders, args.changes, url):
                    print(line, flush=True)
        finally:
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
