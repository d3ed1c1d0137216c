"""Change on the shop -> visible in the back office, with webhooks (issue 14, R-HOOK-1).

Per platform: a simulator shop in a process of its own (``--orders`` orders), a fresh database
(SQLite, or with ``--database postgresql`` a database of its own on the test server), the app
served by gunicorn on a free loopback port (the receiving end: ``/hooks/<token>/<platform>``),
one real ``worker.py work`` process, and ``PUBLIC_BASE_URL`` set to the gunicorn address. The
shop's orders are imported and its webhooks registered through the platform's API (the
registration job, run in this process), then ``--changes`` changes are made on the shop one
after another, each on an open order: a status change on Cartum (the only change whose
``order_update`` Cartum sends), one more of the first line's quantity on Shopify and
WooCommerce. Each is timed from the control API's answer to the moment the order in the
database differs (its shop status, amount or quantities; polled every 20 ms). No scheduler
runs, so nothing but the webhooks can bring a change in.

Printed per platform: p50, p95 and the slowest, in seconds, and how many changes arrived within
``--deadline``. Cartum queues its webhooks for a cron that runs about every 5 minutes on a real
shop; the simulator's ``hook_flush_seconds`` (``--cartum-flush``, default 1) stands in for it, so
Cartum's figure is ours plus that interval, not what a real Cartum shop shows.

Redis: REDIS_URL's database when it is set (nothing flushed), else a redis-server of the
bench's own. Loopback only; every loop is bounded.

    .venv/bin/python bench/webhooks.py [--changes 50] [--orders 200]
        [--platforms cartum,shopify,woocommerce] [--database sqlite] [--cartum-flush 1]
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"  # R-SEC-1: the simulated shops live on loopback

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

import performance  # noqa: E402
from webapp.config import normalize_database_url  # noqa: E402

CARTUM_OPEN = (2, 8)  # Processing <-> Paid: open statuses, so a change never writes an order off
POLL = 0.02  # seconds between looks at the database
START_TIMEOUT = 60  # seconds for gunicorn or the worker to be ready


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(url: str, world: performance.World, base: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": world.redis_url, "SECRET_KEY": "bench",
            "INSTANCE_PATH": str(world.folder / "instance"), "PUBLIC_BASE_URL": base,
            "ALLOW_PRIVATE_SHOP_ADDRESSES": "1", "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def process(args: list[str], env: dict, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)


def wait_for_web(base: str, child: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(base + "/login", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT} s: {log.read_text()[-2000:]}")


def in_app(url: str, world: performance.World, base: str):
    from webapp import create_app
    return create_app({**performance.app_config(url, world), "PUBLIC_BASE_URL": base})


def import_and_register(url: str, world: performance.World, base: str, store_id: int) -> list[dict]:
    """The store's orders imported and its webhooks registered; the shop's subscriptions."""
    from webapp.extensions import db
    from webapp.models import Store
    from webapp.sync import jobs, webhooks

    app = in_app(url, world, base)
    with app.app_context():
        jobs.initial_import(store_id)
        outcome = webhooks.register(store_id)
        store = db.session.get(Store, store_id)
        state = webhooks.state(store)
        db.session.remove()
        db.engine.dispose()
    print(f"    registration: {outcome}; the store page says: {state}", flush=True)
    return outcome


def open_orders(url: str, store_id: int, count: int) -> list[str]:
    """External ids of up to ``count`` of the store's orders that are neither written off nor in
    a closed status group, newest first."""
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text(
                "SELECT o.external_id FROM orders o JOIN statuses s ON s.id = o.status_id "
                "WHERE o.store_id = :store AND o.written_off_at IS NULL "
                "AND s.\"group\" NOT IN ('completed', 'closed_success', 'closed_fail') "
                "ORDER BY o.id DESC LIMIT :count"), {"store": store_id, "count": count}))
    finally:
        engine.dispose()


def fingerprint(conn, store_id: int, external_id: str) -> tuple:
    return tuple(conn.execute(text(
        "SELECT o.platform_status, o.amount, (SELECT COALESCE(SUM(i.quantity), 0) FROM order_items i "
        "WHERE i.order_id = o.id) FROM orders o WHERE o.store_id = :store AND o.external_id = :id"),
        {"store": store_id, "id": external_id}).one())


def change(shop: performance.Shop, external_id: str) -> None:
    if shop.platform == "cartum":
        now = int(shop.control("GET", f"orders/{external_id}")["stat_status"])
        shop.control("POST", f"orders/{external_id}/status", json={"status": CARTUM_OPEN[now == CARTUM_OPEN[0]]})
        return
    order = shop.control("GET", f"orders/{external_id}")
    line = order["line_items"][0]
    quantity = line["current_quantity" if shop.platform == "shopify" else "quantity"] + 1
    path = "line_items" if shop.platform == "shopify" else "items"
    shop.control("POST", f"orders/{external_id}/{path}/{line['id']}", json={"quantity": quantity})


def measure(shop: performance.Shop, url: str, store_id: int, count: int, deadline: float) -> list[float | None]:
    """Seconds from each change on the shop to the order changed in the database; None when it
    did not arrive within ``deadline`` seconds."""
    ids = open_orders(url, store_id, max(count, 10))
    if shop.platform != "cartum":
        ids = [i for i in ids if shop.control("GET", f"orders/{i}")["line_items"]]
    if not ids:
        raise RuntimeError(f"the {shop.platform} store has no open order to change")
    engine = create_engine(normalize_database_url(url))
    seen: list[float | None] = []
    try:
        with engine.connect() as conn:
            for turn in range(count):
                external_id = ids[turn % len(ids)]
                before = fingerprint(conn, store_id, external_id)
                conn.rollback()
                change(shop, external_id)
                started = time.perf_counter()
                arrived = None
                while time.perf_counter() - started < deadline:
                    now = fingerprint(conn, store_id, external_id)
                    conn.rollback()
                    if now != before:
                        arrived = time.perf_counter() - started
                        break
                    time.sleep(POLL)
                seen.append(arrived)
    finally:
        engine.dispose()
    return seen


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def run_platform(platform: str, args, world: performance.World) -> dict:
    extra = {"hook_flush_seconds": args.cartum_flush} if platform == "cartum" else {}
    with performance.shop(platform, args.orders, world.folder, extra=extra) as shop, \
            performance.connected_store(world, args.database, shop) as (url, store_id):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = env_for(url, world, base)
        web_log, worker_log = world.folder / f"{platform}-web.log", world.folder / f"{platform}-worker.log"
        with process([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                      "--threads", "4", "--log-level", "warning", "--no-control-socket", "webapp:create_app()"],
                     env, web_log) as web, \
                process([sys.executable, "worker.py", "work"], env, worker_log):
            wait_for_web(base, web, web_log)
            import_and_register(url, world, base, store_id)
            subscriptions = shop.control("GET", "webhooks")
            if not subscriptions:
                raise RuntimeError(f"no webhook was registered on the {platform} shop: see the registration above")
            print(f"    {len(subscriptions)} subscriptions on the shop: "
                  f"{', '.join(sorted(hook['topic'] for hook in subscriptions))}", flush=True)
            seen = measure(shop, url, store_id, args.changes, args.deadline)
    arrived = [s for s in seen if s is not None]
    return {"platform": platform, "changes": len(seen), "arrived": len(arrived),
            "p50": statistics.median(arrived) if arrived else None,
            "p95": percentile(arrived, 0.95) if arrived else None,
            "max": max(arrived) if arrived else None}


def render(rows: list[dict], args, load: tuple, seconds: float) -> str:
    def fmt(value):
        return "—" if value is None else f"{value:.2f}"

    lines = [f"Change on the shop -> visible in the back office, webhooks registered ({args.database}, "
             f"{args.changes} changes per platform, {os.cpu_count()} cores, load {performance.format_load(load)}, "
             f"{seconds:.0f} s)",
             f"{'platform':<12} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  arrived",
             *(f"{row['platform']:<12} {fmt(row['p50']):>7} {fmt(row['p95']):>7} {fmt(row['max']):>7}  "
               f"{row['arrived']} of {row['changes']}" for row in rows)]
    if any(row["platform"] == "cartum" for row in rows):
        lines.append(f"Cartum: the simulator flushes its webhook queue every {args.cartum_flush} s; a real "
                     "Cartum shop's cron does it about every 5 minutes.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50, help="changes per platform")
    parser.add_argument("--orders", type=int, default=200, help="orders in each simulated shop")
    parser.add_argument("--platforms", type=lambda v: performance.names(v, performance.PLATFORMS),
                        default=list(performance.PLATFORMS))
    parser.add_argument("--database", choices=performance.DATABASES, default="sqlite")
    parser.add_argument("--cartum-flush", type=float, default=1.0,
                        help="seconds between the Cartum simulator's webhook queue flushes")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds a change may take to arrive")
    args = parser.parse_args()
    load = os.getloadavg()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="orderdock-hooks-") as folder, \
            performance.redis_for_bench(Path(folder)) as redis_url:
        postgres = performance.postgres_server(performance.POSTGRES) if args.database == "postgresql" else None
        if args.database == "postgresql" and postgres is None:
            return 1
        world = performance.World(Path(folder), redis_url, postgres, worker=None)
        for platform in args.platforms:
            print(f"  {platform}:", flush=True)
            rows.append(run_platform(platform, args, world))
    print(render(rows, args, load, time.perf_counter() - started))
    return 0 if all(row["arrived"] == row["changes"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
