"""How fast the orders table answers at 100,000 orders, over HTTP (issue 13).

For each database asked for: a fresh one brought to the newest migration (a new SQLite file,
or a database of its own, ``orderdock_bench_<pid>``, created on the PostgreSQL server named
and dropped afterwards), the demo back office and N orders seeded in bulk (two connected
stores, about N/3 clients), then gunicorn serving it as `make run` does (2 workers, 4 threads
each) on a free loopback port, with a redis-server of its own. A signed-in browser-like
session then asks for each page R times, one request at a time, and the median (p50) and the
95th percentile (p95) of the answer times are printed:

  default    /orders/ as the administrator
  filtered   a status, one store and a client's name (status + store + text)
  text       a client's name alone
  phone      a phone number typed the way a person writes it ("0151 0000 00")
  engineer   /orders/ as an engineer limited to one of the two locations
  next page  the second page of the default list

``--busy N`` measures while the machine is busy, as during an import: N processes that keep a
CPU core busy each, a stand-in for an import's work (a real import needs simulated shops and a
worker and is impractical here); ``--writing`` adds a process that keeps writing orders into
the same database in committed batches of 100, as a batch importer does; ``--nice 10`` runs
them at lower priority, as a worker started with `nice` would. Nothing leaves loopback.

    .venv/bin/python bench/orders_page.py [--database sqlite://] [--database postgresql://postgres@127.0.0.1:5432/test]
                                          [--orders 100000] [--repeat 40] [--busy 8] [--writing] [--nice 10]

``measure(database_url, orders, repeat, busy=0, writing=False, nice=0)`` returns
{case: (p50 ms, p95 ms)} for other benchmarks (bench/performance.py).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from webapp.config import normalize_database_url  # noqa: E402

FIRST_NAMES = ["Anna", "Jonas", "Olena", "Lukas", "Marie", "Felix", "Sofia", "Paul", "Emma", "Leon", "Mia",
               "Noah", "Lena", "Elias", "Hanna", "Ben", "Lea", "Finn", "Clara", "Max"]
LAST_NAMES = ["Schmidt", "Weber", "Kovalenko", "Becker", "Müller", "Schneider", "Fischer", "Meyer", "Wagner",
              "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
              "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause",
              "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter",
              "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung",
              "Hahn", "Schubert", "Vogel", "Friedrich"]
SEARCHED_NAME = "Weber"  # one client in 50
SEARCHED_PHONE = "0151 0000 00"  # the 100 clients whose number starts +49151000000 (the first 100: any size)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ROW = re.compile(r'name="order_ids" value="')


def measure(database_url: str, orders: int, repeat: int, busy: int = 0, writing: bool = False,
            nice: int = 0) -> dict[str, tuple[float, float]]:
    """{case: (p50 ms, p95 ms)} of the orders page at ``orders`` orders on this database
    (``sqlite://``: a new temporary file; ``sqlite:///path``: that file, which must not exist
    yet, removed afterwards; a PostgreSQL URL: the server on which a database of our own is
    created and dropped). ``busy``: CPU-bound processes running meanwhile; ``writing``: one
    process writing orders meanwhile, as an import does; ``nice``: their niceness."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="orderdock-bench-")))
        url = stack.enter_context(own_database(database_url, tmp))
        started = time.perf_counter()
        ids = build(url, tmp, orders)
        print(f"  seeded {orders:,} orders in {time.perf_counter() - started:.1f} s ({backend(url)})", flush=True)
        from tests.support.redis_server import PrivateRedis
        redis = PrivateRedis(tmp / "redis")
        stack.callback(redis.stop)
        base = stack.enter_context(gunicorn(url, redis.url, tmp))
        admin, engineer = signed_in(base, "admin", ids["password"]), signed_in(base, "erik", ids["password"])
        cases = {
            "default": (admin, "/orders/"),
            "filtered": (admin, f"/orders/?status={ids['status']}&store={ids['store']}&q={SEARCHED_NAME}"),
            "text": (admin, f"/orders/?q={SEARCHED_NAME}"),
            "phone": (admin, "/orders/?q=" + SEARCHED_PHONE.replace(" ", "+")),
            "engineer": (engineer, "/orders/"),
            "next page": (admin, None),  # the default page's "Next" link, as a user follows it
        }
        if busy or writing:
            stack.enter_context(machine_busy(url, busy, writing, nice))
        results = {}
        for name, (session, path) in cases.items():
            path = path or next_link(session, base + "/orders/")
            results[name] = timed(session, base + path, repeat)
        return results


def backend(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


@contextmanager
def own_database(database_url: str, tmp: Path):
    """A new, empty database; removed afterwards."""
    url = normalize_database_url(database_url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        target = Path(path) if path and path != ":memory:" else tmp / "bench.db"
        if target.exists():
            raise SystemExit(f"{target} exists already; name a new file, or just sqlite:// for a temporary one.")
        try:
            yield f"sqlite:///{target}"
        finally:
            target.unlink(missing_ok=True)
        return
    name = f"orderdock_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def build(url: str, tmp: Path, orders: int) -> dict:
    """Migrate, seed the demo back office, add two stores and ``orders`` orders in bulk."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.demo import seed
    from webapp.extensions import db
    from webapp.models import Client, Location, Order, OrderType, Status, Store

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": str(tmp / "instance")})
    with app.app_context():
        logging.disable(logging.INFO)  # Alembic's line per migration
        upgrade()
        logging.disable(logging.NOTSET)
        password = seed()
        stores = [Store(platform=platform, name=name, url=f"https://{name.lower().replace(' ', '-')}.example.com")
                  for platform, name in (("shopify", "Web shop"), ("woocommerce", "Garden shop"))]
        db.session.add_all(stores)
        db.session.commit()
        store_shops = [(store.id, store.shop_id) for store in stores]
        statuses = list(db.session.scalars(select(Status.id).order_by(Status.position)))
        locations = list(db.session.scalars(select(Location.id).order_by(Location.id)))
        kind = db.session.scalar(select(OrderType.id).order_by(OrderType.id))
        first_client = (db.session.scalar(select(func.max(Client.id))) or 0) + 1
        clients = max(orders // 3, 1)
        rng = random.Random(13)
        insert_batches(Client, [client_row(i, rng) for i in range(clients)])
        client_ids = range(first_client, first_client + clients)
        now = db.session.scalar(select(func.max(Order.created_at)))
        insert_batches(Order, [order_row(i, rng, now, statuses, locations, kind, client_ids, store_shops)
                               for i in range(orders)])
        db.session.commit()
        if url.startswith("postgresql"):
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        db.engine.dispose()
    return {"password": password, "status": statuses[0], "store": store_shops[0][0], "kind": kind,
            "locations": locations, "clients": client_ids, "statuses": statuses, "stores": store_shops}


def insert_batches(model, rows: list[dict], size: int = 5000) -> None:
    from webapp.extensions import db
    for start in range(0, len(rows), size):
        db.session.execute(insert(model.__table__), rows[start:start + size])


def client_row(i: int, rng: random.Random) -> dict:
    from webapp.models.types import utcnow
    first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i // len(FIRST_NAMES) + i) % len(LAST_NAMES)]
    return {"first_name": first, "last_name": last, "phone_raw": f"0151 {i:08d}", "phone": f"+49151{i:08d}",
            "email": f"{first}.{last}{i}@example.com".lower() if rng.random() < 0.5 else None,
            "address": "", "name_edited": False, "created_at": utcnow()}


def order_row(i: int, rng: random.Random, now, statuses, locations, kind, clients, stores, prefix: str = "B") -> dict:
    """One order: 40 % made in the back office, the others from one of the two stores."""
    store = rng.random()
    store_id, shop_id = stores[0] if store < 0.3 else stores[1] if store < 0.6 else (None, None)
    return {"number": f"{prefix}{i:07d}", "location_id": locations[i % len(locations)], "order_type_id": kind,
            "status_id": rng.choice(statuses), "client_id": rng.choice(clients), "manager_id": None,
            "currency": "EUR", "amount": Decimal(rng.randrange(1000, 50000)) / 100,
            "created_at": now - timedelta(minutes=5 * i + rng.random()),
            "store_id": store_id, "shop_id": shop_id, "external_id": f"{prefix}{i}" if store_id else None,
            "platform_number": f"#{100000 + i}" if store_id else None}


@contextmanager
def gunicorn(url: str, redis_url: str, tmp: Path):
    """The app served as `make run` serves it: gunicorn, 2 workers of 4 threads; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": "bench",
           "INSTANCE_PATH": str(tmp / "instance")}
    log = open(tmp / "gunicorn.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--log-level", "warning", "--no-control-socket", "webapp:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/login", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; its log: {(tmp / 'gunicorn.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def signed_in(base: str, login: str, password: str) -> requests.Session:
    session = requests.Session()
    token = CSRF.search(session.get(base + "/login", timeout=10).text).group(1)
    answer = session.post(base + "/login", data={"login": login, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise RuntimeError(f"signing in as {login} failed with {answer.status_code}")
    return session


def next_link(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30).text
    match = re.search(r'<a href="([^"]+)"[^>]*>Next', page)
    if not match:
        raise RuntimeError("the orders page has no link to the next page")
    return match.group(1).replace("&amp;", "&")


def timed(session: requests.Session, url: str, repeat: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``repeat`` answers, after two to warm up; each must show orders."""
    times = []
    for attempt in range(repeat + 2):
        start = time.perf_counter()
        answer = session.get(url, timeout=60)
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status_code != 200 or not ROW.search(answer.text):
            raise RuntimeError(f"{url} answered {answer.status_code} without orders")
        if attempt >= 2:
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[math.ceil(len(times) * 0.95) - 1]


@contextmanager
def machine_busy(url: str, burners: int, writing: bool, nice: int):
    """``burners`` processes spinning on the CPU, and one writing orders in batches of 100."""
    def lower_priority():
        os.nice(nice)
    started = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lower_priority)
               for _ in range(burners)]
    if writing:
        started.append(subprocess.Popen([sys.executable, __file__, "--keep-writing", url], cwd=ROOT,
                                        preexec_fn=lower_priority))
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def keep_writing(url: str) -> None:
    """Insert orders in committed batches of 100 until stopped: the database side of an import."""
    engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    from webapp.models import Client, Location, Order, OrderType, Status, Store
    with engine.connect() as conn:
        statuses = list(conn.scalars(select(Status.id)))
        locations = list(conn.scalars(select(Location.id)))
        kind = conn.scalar(select(OrderType.id))
        clients = list(conn.scalars(select(Client.id)))
        stores = [tuple(row) for row in conn.execute(select(Store.id, Store.shop_id))]
    rng, batch = random.Random(os.getpid()), 0
    while True:
        with engine.begin() as conn:
            now = conn.scalar(select(func.max(Order.created_at)))
            rows = [order_row(batch * 100 + i, rng, now + timedelta(hours=1), statuses, locations, kind, clients,
                              stores, prefix=f"W{os.getpid()}-") for i in range(100)]
            conn.execute(insert(Order.__table__), rows)
        batch += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", action="append", metavar="URL",
                        help="sqlite:// (a temporary file, the default) or a PostgreSQL server's URL; repeatable")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="measure while N CPU-bound processes run")
    parser.add_argument("--writing", action="store_true", help="measure while a process keeps writing orders")
    parser.add_argument("--nice", type=int, default=0, help="the niceness of those processes (a worker run with nice)")
    parser.add_argument("--keep-writing", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep_writing:
        return keep_writing(args.keep_writing)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still drop the database, stop servers
    print(f"orders page at {args.orders:,} orders, {args.repeat} requests per case, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}" + (f", {args.busy} CPU-bound processes" if args.busy else "")
          + (", orders being written" if args.writing else "") + (f", at nice {args.nice}" if args.nice else ""))
    for url in args.database or ["sqlite://"]:
        results = measure(url, args.orders, args.repeat, args.busy, args.writing, args.nice)
        print(f"  {backend(normalize_database_url(url)):<10} {'case':<10} {'p50 ms':>8} {'p95 ms':>8}"
              f"   (load average {os.getloadavg()[0]:.1f})")
        for name, (p50, p95) in results.items():
            print(f"  {'':<10} {name:<10} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
