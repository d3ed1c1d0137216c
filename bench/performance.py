"""`make bench`: what importing, syncing and the orders table cost, in one table (issue 13).

Per platform (Cartum, Shopify, WooCommerce), against its simulator served by a process of its
own (``python -m simulators``: the GIL must not bill the shop's work to us):

* the initial import (R-IMP-2, ``jobs.initial_import``) of a shop with ``--orders`` orders in the
  two-month window (seeded over 90 days, so about 1.5 times as many in all, the newest an hour
  old): orders read per second with the request budget
  lifted (every adapter's ``RATE`` at 1000/second, Shopify's bucket widened to match), so that
  our own cost shows; on SQLite and on PostgreSQL;
* the same import with the budget on (the adapters' own ``RATE``), divided by the plain-fetch
  time: the requests that import made, sent again one after another with plain ``requests``
  within the same budget (the floor the shop's budget sets);
* a sync (``jobs.sync_store``, budget lifted) after ``--changes`` new and as many changed orders
  on the shop: the requests the shop received and the time, on each database at ``--orders``, and
  on the first database at ``--big-orders`` (a second shop, imported once);
* the peak RSS of the process that ran the ``--orders`` import;
* the orders page's p50 / p95 at ``--big-orders`` orders, default and filtered, on each
  database (``bench/orders_page.py``'s ``measure``: gunicorn, one request at a time).

Each job runs in a work horse forked by a worker process, as RQ runs it (the horse's peak RSS
is the importing process's), on a fresh database: a SQLite file, or a PostgreSQL database of its
own created on the ``--postgres`` server and dropped afterwards (``orders_page.own_database``);
PostgreSQL not answering is "not measured". Redis: the database REDIS_URL names when it is set,
else a redis-server of the bench's own; nothing is ever flushed. Medians of ``--runs`` runs; the
core count and the load average are printed with the table. Loopback only.

    .venv/bin/python bench/performance.py [--runs 3] [--orders 10000] [--big-orders 100000]
        [--platforms cartum,shopify,woocommerce] [--databases sqlite,postgresql] [--changes 10]
    .venv/bin/python bench/performance.py --orders 1000 --big-orders 3000 --runs 1   # a smoke run
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import math
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"  # R-SEC-1: the simulated shops live on loopback

import limits  # noqa: E402
import requests  # noqa: E402
from requests_oauthlib import OAuth1  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

import orders_page  # noqa: E402
from simulators import woocommerce as woo_sim  # noqa: E402
from webapp.config import normalize_database_url  # noqa: E402

PLATFORMS = ("cartum", "shopify", "woocommerce")
DATABASES = ("sqlite", "postgresql")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CREDENTIALS = {"cartum": {"login": "manager", "password": "cartum-demo"},
               # The client secret (the simulator's default) signs Shopify's webhooks (bench/webhooks.py).
               "shopify": {"access_token": "shpat_simulator", "client_secret": "sim-client-secret"},
               "woocommerce": {"consumer_key": woo_sim.CONSUMER_KEY, "consumer_secret": woo_sim.CONSUMER_SECRET}}
LIFTED = "1000/second"
"""The request budget "lifted": far above what one import asks for."""
SEEDED_DAYS, WINDOW_DAYS = 90, 61
"""The simulators spread their orders over 90 days; R-IMP-2's window is 61 days (jobs.INITIAL_WINDOW)."""
SHOPIFY_BUCKET = {"size": 40, "leak_rate": 2}  # the simulator's default (the Standard plan)
JOB_TIMEOUT = 3 * 3600  # seconds: a 100,000-order import at 10 orders/s still finishes
SEED_TIMEOUT = 900  # seconds for a simulator to seed its shop and listen
PAGE_REPEAT = 40  # requests per orders-page case and run
NO_POSTGRES = "not measured (no PostgreSQL)"


# ---------------------------------------------------------------------------------------------
# Simulated shops, each in a process of its own
# ---------------------------------------------------------------------------------------------


class Shop:
    """``python -m simulators <platform>`` with ``orders`` orders on a free loopback port (and the
    simulator's ``extra`` options)."""

    def __init__(self, platform: str, orders: int, folder: Path, extra: dict | None = None) -> None:
        self.platform, self.orders = platform, orders
        self.log_path = folder / f"{platform}-{orders}.log"
        self._log = open(self.log_path, "wb")
        self.session = requests.Session()
        # Seeded data that ends an hour ago: otherwise the orders the simulator last "updated"
        # (at its start, a minute before the import) fall in every sync's overlap and are read again.
        ended = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(timespec="seconds")
        options = ["--option", f"now={ended}"] if platform in ("shopify", "woocommerce") else []
        options += [part for name, value in (extra or {}).items() for part in ("--option", f"{name}={value}")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulators", platform, "--port", "0", "--orders", str(orders), *options],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.url = self._wait_for_port()
        except BaseException:
            self.stop()
            raise

    def _wait_for_port(self) -> str:
        deadline = time.monotonic() + SEED_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(rb"serving (http://127\.0\.0\.1:\d+)/", self.log_path.read_bytes()[:4000])
            if found:
                return found.group(1).decode()
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.platform} simulator exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)  # seeding 150,000 orders takes a while; the log line says when it listens
        raise RuntimeError(f"the {self.platform} simulator did not listen within {SEED_TIMEOUT} s")

    def control(self, method: str, path: str, **kwargs):
        answer = self.session.request(method, f"{self.url}/_sim/{path}", timeout=60, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def budget(self, lifted: bool) -> None:
        """Shopify's leaky bucket (the shop's own limit) widened to match a lifted budget, or
        back to the Standard plan's; the other simulators set no limit."""
        if self.platform == "shopify":
            self.control("POST", "bucket", json={"size": 10**6, "leak_rate": 10**6, "level": 0} if lifted
                         else {**SHOPIFY_BUCKET, "level": 0})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        self.session.close()


@contextlib.contextmanager
def shop(platform: str, orders: int, folder: Path, extra: dict | None = None) -> Iterator[Shop]:
    started = time.perf_counter()
    running = Shop(platform, orders, folder, extra)
    print(f"  {platform} simulator: {orders:,} orders seeded in {time.perf_counter() - started:.0f} s", flush=True)
    try:
        yield running
    finally:
        running.stop()


def seeded(in_window: int) -> int:
    """Orders to seed over 90 days for ``in_window`` of them to fall in the two-month window."""
    return math.ceil(in_window * SEEDED_DAYS / WINDOW_DAYS)


def changes(platform: str, shop: Shop, order_ids: list[str], count: int) -> None:
    """``count`` quantity changes (the first line of each given order, one more than it has)
    and ``count`` new orders on the shop."""
    for external_id in order_ids[:count]:
        order = shop.control("GET", f"orders/{external_id}")
        if platform == "cartum":
            if order["products"]:
                shop.control("POST", f"orders/{external_id}/quantity",
                             json={"index": 0, "quantity": int(order["products"][0]["quantity"]) + 1})
        elif order["line_items"]:
            line = order["line_items"][0]
            quantity = line["current_quantity" if platform == "shopify" else "quantity"] + 1
            path = "line_items" if platform == "shopify" else "items"
            shop.control("POST", f"orders/{external_id}/{path}/{line['id']}", json={"quantity": quantity})
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


def plain_fetch(platform: str, shop: Shop, calls: list[dict], rate: str) -> float:
    """Seconds to send ``calls`` (the simulator's request log) again with plain ``requests``,
    one after another, never more than ``rate`` allows in any window (the shop's budget)."""
    item = limits.parse(rate)
    window = item.get_expiry()
    sent: deque[float] = deque()
    token = None
    auth = OAuth1(CREDENTIALS["woocommerce"]["consumer_key"], client_secret=CREDENTIALS["woocommerce"][
        "consumer_secret"], signature_type="query") if platform == "woocommerce" else None
    headers = {"X-Shopify-Access-Token": CREDENTIALS["shopify"]["access_token"]} if platform == "shopify" else {}
    with requests.Session() as session:
        started = time.perf_counter()
        for call in calls:
            if len(sent) >= item.amount:
                time.sleep(max(0.0, sent.popleft() + window - time.perf_counter()))
            sent.append(time.perf_counter())
            params = {k: v for k, v in (call["query"] or {}).items() if not k.startswith("oauth_")}
            body = call["json"]
            if token and isinstance(body, dict) and "token" in body:
                body = {**body, "token": token}  # Cartum: the token this replay signed in for
            kwargs = {"json": body} if isinstance(body, (dict, list)) else {"data": call["form"]}
            answer = session.request(call["method"], shop.url + call["path"], params=params, headers=headers,
                                     auth=auth, timeout=60, **kwargs)
            answer.raise_for_status()
            data = answer.json()
            if platform == "cartum" and call["path"].rstrip("/").endswith("/auth"):
                token = data["response"]["token"]
        return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# Databases and jobs
# ---------------------------------------------------------------------------------------------


@dataclass
class World:
    """What every measurement shares: the temporary folder, Redis and the database servers."""

    folder: Path
    redis_url: str
    postgres: str | None  # the server's URL, None when it does not answer
    worker: Worker

    def server(self, database: str) -> str:
        return "sqlite://" if database == "sqlite" else self.postgres


@contextlib.contextmanager
def connected_store(world: World, database: str, shop: Shop) -> Iterator[tuple[str, int]]:
    """A fresh database (migrated, the demo back office seeded) with a store connected to
    ``shop``: its URL and the store's id; the database is removed afterwards."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.demo import seed
    from webapp.extensions import db
    from webapp.stores_cli import StoreSpec, connect

    with tempfile.TemporaryDirectory(dir=world.folder) as scratch, \
            orders_page.own_database(world.server(database), Path(scratch)) as url:
        app = create_app(app_config(url, world))
        with app.app_context():
            upgrade()
            seed()
            spec = StoreSpec(shop.platform, f"Bench {shop.platform}", shop.url, "Main workshop", "Online order",
                             CREDENTIALS[shop.platform], guess_statuses=True,
                             language="en" if shop.platform == "cartum" else "")
            store = connect(spec)
            db.session.add(store)
            db.session.commit()
            store_id = store.id
            db.session.remove()
            db.engine.dispose()
        yield url, store_id


def app_config(url: str, world: World) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": world.redis_url, "SECRET_KEY": "bench",
            "INSTANCE_PATH": str(world.folder / "instance"), "CURRENCY": "EUR"}


def newest_order_ids(url: str, store_id: int, count: int) -> list[str]:
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT external_id FROM orders WHERE store_id = :store "
                                          "ORDER BY id DESC LIMIT :count"), {"store": store_id, "count": count}))
    finally:
        engine.dispose()


class Worker:
    """A worker process as `python worker.py work` is one: it imports what the worker imports,
    then forks a work horse per job (as RQ does), so a job starts in milliseconds and the
    horse's peak RSS is that of the product's importing process. ``run(spec)`` sends a job
    (``job_in_horse``) and returns what it measured, with the horse's ``rss_mb``."""

    def __init__(self, folder: Path) -> None:
        self.errors = folder / "worker-stderr.log"
        self._stderr = open(self.errors, "wb")
        self.busy = False
        # A session of its own: ``stop`` ends the worker and a horse in the middle of a job together.
        self.process = subprocess.Popen([sys.executable, __file__, "--worker"], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)

    def run(self, spec: dict) -> dict:
        self.busy = True
        self.process.stdin.write((json.dumps(spec) + "\n").encode())
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], JOB_TIMEOUT)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"the worker process gave no answer: {self.errors.read_text()[-1500:]}")
        self.busy = False
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # end of input: an idle worker exits
            try:
                self.process.wait(timeout=0.1 if self.busy else 10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its horse
                self.process.wait(timeout=10)
        self._stderr.close()


def serve_jobs() -> None:
    """``--worker``: one JSON job per line on stdin, each run in a forked horse; one JSON line
    of results on stdout per job."""
    import worker  # noqa: F401 - what `python worker.py work` has loaded before its first job
    from webapp import create_app

    app = None
    for line in sys.stdin:
        spec = json.loads(line)
        if app is None:  # as `worker.py work` does before its first job (it opens no database)
            app = create_app(spec["config"])
        reading, writing = os.pipe()
        pid = os.fork()
        if pid == 0:  # the horse: its stdout is the job's stderr, its answer goes up the pipe
            os.close(reading)
            os.dup2(2, 1)
            try:
                result = job_in_horse(spec)
            except BaseException as error:  # noqa: BLE001 - reported to the bench, which stops
                traceback.print_exc()
                result = {"state": "crashed", "error": f"{type(error).__name__}: {error}"}
            with os.fdopen(writing, "w") as out:
                out.write(json.dumps(result))
            os._exit(0)
        os.close(writing)
        with os.fdopen(reading) as answer:
            found = answer.read()
        _, status, usage = os.wait4(pid, 0)
        result = json.loads(found) if found else {"state": f"horse died (status {status})", "error": ""}
        result["rss_mb"] = usage.ru_maxrss / 1024
        print(json.dumps(result), flush=True)


def job_in_horse(spec: dict) -> dict:
    """One job, timed from its call to its return."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import SyncRun
    from webapp.platforms import PLATFORMS as ADAPTERS
    from webapp.sync import jobs

    if spec["lifted"]:
        for adapter in ADAPTERS.values():
            adapter.RATE = LIFTED
    app = create_app(spec["config"])
    stats = f"{spec['shop']}/_sim/stats"
    job = jobs.initial_import if spec["job"] == "initial" else jobs.sync_store
    with app.app_context():
        before = requests.get(stats, timeout=60).json()["requests"]
        started = time.perf_counter()
        run_id = job(spec["store"])
        seconds = time.perf_counter() - started
        made = requests.get(stats, timeout=60).json()["requests"] - before
        run = db.session.get(SyncRun, run_id) if run_id else None
        return {"seconds": seconds, "requests": made, "state": run.state.value if run else "did not run",
                "error": run.error if run else "busy or inactive", "fetched": run.fetched if run else 0,
                "created": run.created if run else 0, "updated": run.updated if run else 0}


def run_job(world: World, job: str, url: str, store_id: int, shop: Shop, lifted: bool) -> dict:
    """``job`` ("initial" or "sync") in a work horse; what it measured: seconds, fetched,
    created, updated, requests, rss_mb."""
    result = world.worker.run({"job": job, "store": store_id, "shop": shop.url, "lifted": lifted,
                               "config": app_config(url, world)})
    if result["state"] == "crashed":
        print(world.worker.errors.read_text()[-3000:], file=sys.stderr)
    if result["state"] != "succeeded":
        raise RuntimeError(f"the {job} run ended {result['state']}: {result['error']}")
    return result


# ---------------------------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Every run's figures, by (metric, platform, database) and by metric name."""

    values: dict[tuple, list] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: dict[tuple, str] = field(default_factory=dict)

    def add(self, key: tuple, value) -> None:
        self.values.setdefault(key, []).append(value)


@contextlib.contextmanager
def recorded(samples: Samples, *keys: tuple) -> Iterator[None]:
    """A failed measurement marks its cells and the bench goes on with the next."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the table still shows what did work
        for key in keys:
            samples.failed[key] = "failed"
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        samples.notes.append(f"{' / '.join(' '.join(map(str, k)) for k in keys)}: {reason}")
        print(f"  FAILED: {reason}", flush=True)


def measure_import(world: World, samples: Samples, shop: Shop, databases: list[str], count: int) -> None:
    """One run on one shop: per database an import with the budget lifted and a sync after
    ``count`` changes; then per database an import with the budget on, and the plain fetch."""
    platform = shop.platform
    shop.budget(lifted=True)
    for database in databases:
        with recorded(samples, ("import", platform, database), ("sync", platform, database)), \
                connected_store(world, database, shop) as (url, store_id):
            shop.control("DELETE", "requests")
            done = run_job(world, "initial", url, store_id, shop, lifted=True)
            samples.add(("import", platform, database), done["fetched"] / done["seconds"])
            samples.add(("rss", platform, database), done["rss_mb"])
            samples.add(("read", platform), done["fetched"])
            print(f"  {platform} {database}: import {done['fetched']:,} orders in {done['seconds']:.1f} s, "
                  f"{done['requests']} requests, peak RSS {done['rss_mb']:.0f} MB (budget lifted)", flush=True)
            changes(platform, shop, newest_order_ids(url, store_id, count), count)
            synced = run_job(world, "sync", url, store_id, shop, lifted=True)
            samples.add(("sync", platform, database), (synced["requests"], synced["seconds"]))
            print(f"  {platform} {database}: sync after {count} new + {count} changed: {synced['requests']} "
                  f"requests, {synced['seconds']:.2f} s ({synced['created']} new, {synced['updated']} updated)",
                  flush=True)
    shop.budget(lifted=False)
    floor = None
    for database in databases:
        with recorded(samples, ("ratio", platform, database)), \
                connected_store(world, database, shop) as (url, store_id):
            shop.control("DELETE", "requests")
            done = run_job(world, "initial", url, store_id, shop, lifted=False)
            if floor is None:  # the same pages whatever the database: fetched once per run
                from webapp.platforms import PLATFORMS as ADAPTERS
                calls = shop.control("GET", "requests")
                floor = plain_fetch(platform, shop, calls, ADAPTERS[platform].RATE)
                samples.add(("floor", platform), floor)
                samples.add(("calls", platform), len(calls))
            samples.add(("ratio", platform, database), done["seconds"] / floor)
            print(f"  {platform} {database}: import with the budget on {done['seconds']:.1f} s, "
                  f"{done['requests']} requests; plain fetch of them {floor:.1f} s", flush=True)


def measure_big(world: World, samples: Samples, shop: Shop, database: str, runs: int, count: int) -> None:
    """The big shop imported once (budget lifted), then ``runs`` syncs after ``count`` changes."""
    platform = shop.platform
    shop.budget(lifted=True)
    with recorded(samples, ("big sync", platform, database), ("big import", platform, database)), \
            connected_store(world, database, shop) as (url, store_id):
        done = run_job(world, "initial", url, store_id, shop, lifted=True)
        samples.add(("big import", platform, database), done["fetched"] / done["seconds"])
        print(f"  {platform} {database}: import {done['fetched']:,} orders in {done['seconds']:.1f} s "
              f"(budget lifted), peak RSS {done['rss_mb']:.0f} MB", flush=True)
        for _ in range(runs):
            changes(platform, shop, newest_order_ids(url, store_id, count), count)
            synced = run_job(world, "sync", url, store_id, shop, lifted=True)
            samples.add(("big sync", platform, database), (synced["requests"], synced["seconds"]))
            print(f"  {platform} {database}: sync after {count} new + {count} changed: {synced['requests']} "
                  f"requests, {synced['seconds']:.2f} s", flush=True)


def page_measure() -> Callable | None:
    """``orders_page.measure(database_url, orders, repeat)``, when that bench offers it."""
    measure = getattr(orders_page, "measure", None)
    if measure is None or "database_url" not in inspect.signature(measure).parameters:
        return None
    return measure


def measure_pages(world: World, samples: Samples, database: str, orders: int) -> None:
    measure = page_measure()
    if measure is None:
        samples.failed[("page", database)] = "not measured (bench/orders_page.py has no measure())"
        return
    with recorded(samples, ("page", database)):
        found = measure(world.server(database), orders, PAGE_REPEAT)
        for case in ("default", "filtered"):
            samples.add(("page", case, database), found[case])
        print(f"  orders page, {database}: " + ", ".join(f"{case} p50 {p50:.0f} / p95 {p95:.0f} ms"
                                                          for case, (p50, p95) in found.items()), flush=True)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


def render(samples: Samples, args, world: World, load_before: tuple, seconds: float) -> str:
    """The table: a row per figure, a column per platform, the issue's target last; then the
    orders page (one figure for every platform) and what each import read."""
    platforms, databases, first = args.platforms, args.databases, args.databases[0]
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    orders, big, changed = f"{args.orders:,}", f"{args.big_orders:,}", f"{args.changes}+{args.changes}"

    def cell(key: tuple, show: Callable) -> str:
        if key[-1] == "postgresql" and world.postgres is None:
            return NO_POSTGRES
        if key in samples.failed:
            return samples.failed[key]
        values = samples.values.get(key)
        return show(values) if values else "-"

    def median(values, index: int | None = None) -> float:
        return statistics.median(v if index is None else v[index] for v in values)

    shown = {
        "import": lambda v: f"{median(v):,.0f}", "big import": lambda v: f"{median(v):,.0f}",
        "ratio": lambda v: f"{median(v):.1f}×", "rss": lambda v: f"{median(v):.0f} MB",
        "sync": lambda v: f"{median(v, 0):.0f} / {median(v, 1):.2f} s",
        "big sync": lambda v: f"{median(v, 0):.0f} / {median(v, 1):.2f} s",
        "page": lambda v: f"{median(v, 0):.0f} / {median(v, 1):.0f} ms",
    }
    sync_target = "≤ 3 and < 1 s (Cartum ≤ 15 requests)"
    rows = [(f"import orders/s, budget lifted, {orders} — {name[d]}", "import", d, "≥ 1,000") for d in databases]
    rows += [(f"import time ÷ plain fetch, budget on, {orders} — {name[d]}", "ratio", d, "≤ 1.3×") for d in databases]
    rows += [(f"sync after {changed}: requests / time, {orders} — {name[d]}", "sync", d, sync_target)
             for d in databases]
    rows += [(f"sync after {changed}: requests / time, {big} — {name[first]}", "big sync", first, sync_target),
             (f"import orders/s, budget lifted, {big} — {name[first]}", "big import", first, "")]
    rows += [(f"peak RSS of the importing process, {orders} — {name[d]}", "rss", d, "< 200 MB") for d in databases]
    table = [(label, [cell((metric, p, d), shown[metric]) for p in platforms], target)
             for label, metric, d, target in rows]
    pages = [(f"orders page at {big} orders, p50 / p95 — {case}, {name[d]}",
              samples.failed.get(("page", d)) if world.postgres or d == "sqlite" else NO_POSTGRES,
              ("page", case, d)) for d in databases for case in ("default", "filtered")]
    pages = [(label, failed or cell(key, shown["page"]), "p95 < 100 ms") for label, failed, key in pages]
    label_width = max(len(label) for label, _, _ in table + pages) + 2
    width = max([16] + [len(c) + 2 for _, cells, _ in table for c in cells])
    lines = [
        f"Orderdock bench: {os.cpu_count()} cores, load average {format_load(load_before)} at the start and "
        f"{format_load(os.getloadavg())} at the end; medians of {args.runs} run(s); {seconds / 60:.1f} min",
        f"Shops: {orders} orders in the two-month window ({seeded(args.orders):,} seeded over 90 days), "
        f"the big one {big} ({seeded(args.big_orders):,}); budget lifted = {LIFTED}, on = the adapters' own",
        "",
        "".ljust(label_width) + "".join(p.ljust(width) for p in platforms) + "target",
    ]
    lines += [label.ljust(label_width) + "".join(c.ljust(width) for c in cells) + target
              for label, cells, target in table]
    page_width = max([width] + [len(value) + 2 for _, value, _ in pages])
    lines += [""] + [label.ljust(label_width) + value.ljust(page_width) + target for label, value, target in pages]
    reads = [f"{p} {median(samples.values[('read', p)]):,.0f} orders in {median(samples.values[('calls', p)]):.0f} "
             f"requests, plain fetch {median(samples.values[('floor', p)]):.1f} s"
             for p in platforms if ("read", p) in samples.values and ("calls", p) in samples.values]
    if reads:
        lines += ["", "Each import (budget on): " + "; ".join(reads)]
    if samples.notes:
        lines += ["", "Failures:"] + [f"  {note}" for note in samples.notes]
    return "\n".join(lines)


def format_load(load: tuple) -> str:
    return " ".join(f"{value:.2f}" for value in load)


# ---------------------------------------------------------------------------------------------


def postgres_server(url: str) -> str | None:
    """``url`` when a PostgreSQL server answers there, else None."""
    engine = create_engine(normalize_database_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return url
    except Exception as error:  # noqa: BLE001 - any failure to connect means "not measured"
        print(f"PostgreSQL at {url} does not answer ({type(error).__name__}): its cells are not measured.")
        return None
    finally:
        engine.dispose()


@contextlib.contextmanager
def redis_for_bench(folder: Path) -> Iterator[str]:
    """REDIS_URL's database when it is set (nothing in it is flushed), else a redis-server of
    our own, stopped at the end."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from tests.support.redis_server import PrivateRedis
    redis = PrivateRedis(folder / "redis")
    try:
        yield redis.url
    finally:
        redis.stop()


@contextlib.contextmanager
def worker_process(folder: Path) -> Iterator[Worker]:
    running = Worker(folder)
    try:
        yield running
    finally:
        running.stop()


def names(value: str, allowed: tuple) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [v for v in chosen if v not in allowed]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(allowed)} (comma-separated)")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Defaults are `make bench`'s; shrink them for a smoke run.")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the table shows medians")
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the two-month window")
    parser.add_argument("--big-orders", type=int, default=100_000,
                        help="orders of the big shop (sync) and of the orders page")
    parser.add_argument("--changes", type=int, default=10, help="new and changed orders before each sync")
    parser.add_argument("--platforms", type=lambda v: names(v, PLATFORMS), default=list(PLATFORMS))
    parser.add_argument("--databases", type=lambda v: names(v, DATABASES), default=list(DATABASES))
    parser.add_argument("--postgres", default=POSTGRES, help="the PostgreSQL server to create databases on")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve_jobs()
        return 0
    logging.disable(logging.INFO)  # alembic's INFO lines at every migration
    if min(args.runs, args.orders, args.big_orders, args.changes) < 1:
        parser.error("--runs, --orders, --big-orders and --changes must be at least 1")
    load_before, started = os.getloadavg(), time.perf_counter()
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="orderdock-performance-") as tmp:
        folder = Path(tmp)
        postgres = postgres_server(args.postgres) if "postgresql" in args.databases else None
        databases = [d for d in args.databases if d == "sqlite" or postgres]
        with redis_for_bench(folder) as redis_url, worker_process(folder) as worker:
            world = World(folder, redis_url, postgres, worker)
            print(f"Redis: {redis_url}; {os.cpu_count()} cores, load average {format_load(load_before)}", flush=True)
            for platform in args.platforms:
                with shop(platform, seeded(args.orders), folder) as running:
                    for run in range(1, args.runs + 1):
                        print(f"{platform}, run {run} of {args.runs}", flush=True)
                        measure_import(world, samples, running, databases, args.changes)
            if databases:
                for platform in args.platforms:
                    with shop(platform, seeded(args.big_orders), folder) as running:
                        measure_big(world, samples, running, databases[0], args.runs, args.changes)
            for database in databases:
                for run in range(1, args.runs + 1):
                    print(f"orders page, {database}, run {run} of {args.runs}", flush=True)
                    measure_pages(world, samples, database, args.big_orders)
        print()
        print(render(samples, args, world, load_before, time.perf_counter() - started))
    return 1 if samples.notes else 0


if __name__ == "__main__":
    sys.exit(main())
