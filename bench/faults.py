"""The fault matrix (R-REL-2, R-REL-3): fault x platform -> recovered / duplicates / lost / visible.

For each platform and fault: a seeded simulator shop on loopback, a store connected to it, and
a real ``worker.py`` RQ worker (plus the RQ scheduler, as `make run` has) on a database and a
redis-server of the bench's own. Then, in the worker:
  1. the initial import, with the fault striking mid-run (after a few API requests);
  2. changes on the shop (new orders, changed quantities and statuses), then a sync with the
     fault striking mid-run again;
  3. the fault cleared, one more sync.
Then the back office is compared with the shop's own data (the simulators' ``/_sim/`` routes,
through the same "orders the rules select" helpers as tests/integration/test_importer.py).

The columns, per cell:
  recovered   yes when, after the last run, that run SUCCEEDED, no order is lost, nothing is
              duplicated and every imported order matches the shop (items: quantity and price;
              status, where the platform's statuses come in and the store maps it).
  duplicates  back-office rows doubled: orders of one shop order, order items beyond the shop's
              lines, and among the store's clients and products, clients sharing an e-mail and
              products sharing the value the store identifies products by (SKU, article, id).
  lost        shop orders the rules select that are not in the back office, plus imported orders
              whose items or status differ from the shop's (a change not brought in; on Cartum,
              which cannot list changed orders, only orders still open here are followed).
  visible     yes when each run the fault struck either ended FAILED with its reason on the run
              and an ERROR line in the store's sync log, or SUCCEEDED with the back office level
              with the shop at that moment (the fault retried away within the run; orders the
              bench changed during that run are left out of that check); and no run of the store
              stays RUNNING: a run whose worker was killed must end (resumed or FAILED) within
              DEAD_RUN seconds (R-REL-3: "noticed within a minute").
A cell whose fault never struck (the run ended first, or the simulator lacks the fault kind)
says "not exercised" and counts as failed. The full matrix starts with a "no fault (control)"
row: the same runs with nothing injected, which checks the bench's own comparison.

Faults: the simulators' own (``/_sim/faults``) for the HTTP ones; ``bench/faultproxy.py`` in
front of PostgreSQL for its outage; SIGKILL of the worker's process group; ``SHUTDOWN SAVE`` and
a restart of the bench's redis-server; a second SQLite writer holding the write lock; a second
worker with another job of the same store enqueued mid-run. The worker runs with small pages,
short HTTP timeouts and the request budget lifted (``tune``), so each run reads several pages.

    .venv/bin/python bench/faults.py [--short] [--db sqlite|postgresql] [--platform P] [--fault F]
                                     [--json FILE]

``--short`` runs each fault once, platforms taking turns (what `make test` runs).
``--db postgresql`` uses TEST_DATABASE_URL (else DATABASE_URL) with a private schema, dropped at
the end. FAULTS_LOG_DIR=folder keeps the workers' output there. Exit status 1 when any cell
is not recovered / 0 / 0 / visible. Loopback only; every wait is bounded.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# R-SEC-1: the simulated shops live on loopback; this process and the workers it starts
# (they inherit the environment) must be allowed to reach them.
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"

from faultproxy import FaultProxy  # noqa: E402
from tests.integration.test_importer import SELECTED  # noqa: E402
from tests.integration.test_sync_jobs import (  # noqa: E402
    CREDENTIALS, ZONES, add_remote_order, change_quantity, change_status,
)
from tests.support.redis_server import PrivateRedis  # noqa: E402
from tests.support.services import drop_postgres_schema, postgres_schema_url  # noqa: E402
from tests.support.simulators import serving  # noqa: E402
from webapp.models.types import utcnow  # noqa: E402
from webapp.sync.jobs import INITIAL_WINDOW  # noqa: E402

PLATFORM_NAMES = ("cartum", "shopify", "woocommerce")
SHOP_ORDERS = 36  # over the simulators' 90 days: about 25 in the import's two months
PAGE_SIZE = 6  # orders per page in the bench's worker: every run reads several pages
STRIKE_AFTER = {"import": 3, "sync": 1}  # API requests of a run before its fault strikes: mid-run
RUN_WAIT = 45.0  # seconds any run gets to end
DEAD_RUN = 60.0  # R-REL-3: a run whose worker died is noticed within a minute
DEAD_RUN_WAIT = DEAD_RUN + 30.0  # ... and then gets this long, in all, to end
OUTAGE = 2.0  # seconds Redis is down, PostgreSQL unreachable, SQLite locked
SIM_TIMEOUT = 2.0  # a "timeout" fault answers after this; the bench worker's read timeout is shorter
READ_TIMEOUT = 1.0
WORKER_START_WAIT = 30.0
CONTROL = "no fault (control)"  # a row that checks the bench's own comparison
CHANGES = 4  # new orders, quantity changes and status changes before the sync: a sync reads only the
#            changed orders (issue 13), and 4 of each fill more than one page of 6 on every platform
#            (Shopify brings no status changes), so the sync's fault strikes mid-run


# ---------------------------------------------------------------------------------------------
# The bench's worker: the product's worker.py, with small pages and short timeouts
# ---------------------------------------------------------------------------------------------


def tune() -> None:
    """Small pages, short HTTP timeouts and no per-shop budget, in this process (and the work
    horses it forks): runs of a small shop still read several pages, and faults cost seconds."""
    from webapp.platforms import PLATFORMS
    from webapp.platforms.http import HttpSettings
    from webapp.sync import platform as platform_module

    settings = HttpSettings(read_timeout=READ_TIMEOUT, connect_timeout=2.0, backoff=0.1, max_backoff=0.5,
                            max_retry_wait=5.0, short_retry_after=2.0, max_budget_wait=5.0)
    platform_module.http_for_worker = lambda: platform_module._shared_http("orderdock_bench_http", settings)
    for name, adapter in list(PLATFORMS.items()):
        adapter.RATE = "1000/second"
        if not getattr(adapter, "_bench_small_pages", False):
            PLATFORMS[name] = _small_pages(adapter)
    _small_woocommerce_pages()


def _small_pages(adapter: type) -> type:
    """The adapter with the ``page_size`` option (Cartum, Shopify) set to PAGE_SIZE."""
    def __init__(self, url, credentials, options, http):
        adapter.__init__(self, url, credentials, {**options, "page_size": PAGE_SIZE}, http)
    return type(adapter.__name__, (adapter,), {"__init__": __init__, "_bench_small_pages": True})


def _small_woocommerce_pages() -> None:
    # WooCommerce's page size is a module constant (its API maximum), read where it is used.
    import webapp.platforms.woocommerce as woo
    import webapp.platforms.woocommerce.client as woo_client
    for module in (woo, woo_client):
        if hasattr(module, "PER_PAGE"):
            module.PER_PAGE = PAGE_SIZE


def worker_main() -> None:
    """``bench/faults.py --worker``: worker.py's ``work`` after ``tune``."""
    import worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(name)s %(message)s")
    tune()
    worker.work()


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Cell:
    fault: str
    platform: str
    recovered: bool = False
    duplicates: int = 0
    lost: int = 0
    visible: bool = False
    exercised: bool = True
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exercised and self.recovered and self.visible and not self.duplicates and not self.lost

    def text(self) -> str:
        if not self.exercised:
            return "not exercised"
        yes = {True: "yes", False: "NO"}
        return f"{yes[self.recovered]} / {self.duplicates} / {self.lost} / {yes[self.visible]}"


# ---------------------------------------------------------------------------------------------
# The bench's world: database, Redis, app, worker processes
# ---------------------------------------------------------------------------------------------


class Bench:
    """One database, one redis-server, the app (for setup and checks) and the worker processes."""

    def __init__(self, folder: Path, backend: str) -> None:
        self.folder, self.backend = folder, backend
        self.redis = PrivateRedis(folder / "redis")
        self.proxy = None
        self.schema = None
        self.database_url = self.worker_database_url = self._database()
        if backend == "postgresql":
            self.worker_database_url = self._through_proxy(self.database_url)
        self.secret = "bench-faults"
        self.app = self._app()
        self.workers: list[subprocess.Popen] = []
        self.scheduler: subprocess.Popen | None = None
        logs = Path(os.environ.get("FAULTS_LOG_DIR") or folder)  # the workers' output, kept if asked
        logs.mkdir(parents=True, exist_ok=True)
        self.log = open(logs / "processes.log", "ab")

    def _database(self) -> str:
        if self.backend == "sqlite":
            self.sqlite_path = self.folder / "bench.db"
            return f"sqlite:///{self.sqlite_path}"
        base = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if not base or not base.startswith("postgres"):
            raise SystemExit("--db postgresql needs TEST_DATABASE_URL (or DATABASE_URL) = postgresql://...")
        self.base_url = base
        url, self.schema = postgres_schema_url(base)
        return url

    def _through_proxy(self, url: str) -> str:
        """The same database, reached through our fault proxy (which can cut it off)."""
        parts = urlsplit(url)
        self.proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.proxy.port}" if auth else f"127.0.0.1:{self.proxy.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _app(self):
        from flask_migrate import upgrade

        from webapp import create_app
        from webapp.demo import seed
        from webapp.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, "REDIS_URL": self.redis.url,
                          "INSTANCE_PATH": str(self.folder / "instance"), "SECRET_KEY": self.secret,
                          "CURRENCY": "EUR", "TIMEZONE": "Europe/Berlin", "PHONE_REGION": "DE"})
        with app.app_context():
            upgrade()
            seed()
            db.session.commit()
            db.session.remove()
        return app

    def env(self) -> dict:
        return {**os.environ, "DATABASE_URL": self.worker_database_url, "REDIS_URL": self.redis.url,
                "INSTANCE_PATH": str(self.folder / "instance"), "SECRET_KEY": self.secret,
                "CURRENCY": "EUR", "TIMEZONE": "Europe/Berlin", "PHONE_REGION": "DE",
                "ALLOW_PRIVATE_SHOP_ADDRESSES": "1", "PYTHONUNBUFFERED": "1"}

    def start_worker(self) -> subprocess.Popen:
        # Its own session: a SIGKILL of its group takes the work horse with it, and nothing else.
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=ROOT,
                                env=self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(proc)
        self._wait_registered(proc)
        return proc

    def _wait_registered(self, proc: subprocess.Popen) -> None:
        """Until the new worker is registered in Redis and waiting for jobs (bounded)."""
        from rq import Worker
        from redis import Redis

        deadline = time.monotonic() + WORKER_START_WAIT
        while time.monotonic() < deadline:
            try:
                workers = Worker.all(connection=Redis.from_url(self.redis.url, socket_timeout=2))
                if any(w.pid == proc.pid for w in workers) or proc.poll() is not None:
                    return
            except Exception:  # noqa: BLE001 - Redis may be restarting
                pass
            time.sleep(0.1)

    def start_scheduler(self) -> None:
        self.scheduler = subprocess.Popen([sys.executable, "worker.py", "schedule"], cwd=ROOT, env=self.env(),
                                          stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def live_workers(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def kill_workers(self) -> None:
        for proc in self.live_workers():
            _kill_group(proc)

    def ensure_one_worker(self) -> list[str]:
        """Between cells: exactly one live worker (and a live scheduler); says what it restarted."""
        notes, live = [], self.live_workers()
        self.workers = live
        for extra in live[1:]:
            _stop(extra)
        self.workers = live[:1]
        if not self.workers:
            self.start_worker()
        if self.scheduler is not None and self.scheduler.poll() is not None:
            notes.append(f"the scheduler exited (code {self.scheduler.returncode}); restarted")
            self.start_scheduler()
        return notes

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                _stop(proc)
        self.redis.stop()
        if self.proxy:
            self.proxy.close()
        with self.app.app_context():
            from webapp.extensions import db
            db.engine.dispose()
        if self.schema:
            drop_postgres_schema(self.base_url, self.schema)
        self.log.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            _kill_group(proc)


# ---------------------------------------------------------------------------------------------
# Striking mid-run: a hook in the simulator that runs an action at the N-th API request
# ---------------------------------------------------------------------------------------------


class Trigger:
    """Runs ``action`` once, inside the simulator, when the run has made ``after`` API requests.

    Installed after the simulators' own request hook, which counts API requests (``stats``) and
    serves queued faults: an action that queues faults hits the requests that follow.
    """

    def __init__(self, sim) -> None:
        self.sim, self.state = sim, sim.app.extensions["sim_state"]
        self.pending: tuple[int, Callable[[], None]] | None = None
        self.fired = threading.Event()
        self.errors: list[str] = []
        sim.app.before_request_funcs.setdefault(None, []).append(self._hook)

    def arm(self, after: int, action: Callable[[], None]) -> None:
        with self.state.lock:
            self.pending = (self.state.stats["requests"] + after, action)
        self.fired.clear()

    def disarm(self) -> None:
        with self.state.lock:
            self.pending = None

    def _hook(self):
        with self.state.lock:
            due = self.pending is not None and self.state.stats["requests"] >= self.pending[0]
            action = self.pending[1] if due else None
            if due:
                self.pending = None
        if action is not None:
            try:
                action()
            except Exception as error:  # noqa: BLE001 - reported in the cell, not a crash of the shop
                self.errors.append(f"{type(error).__name__}: {error}")
            self.fired.set()
        return None


# ---------------------------------------------------------------------------------------------
# The faults
# ---------------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    strike: Callable  # (cell_context) -> None, run inside the simulator at the trigger
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    kinds: tuple[str, ...] = ()  # simulator fault kinds it needs
    dead_run: bool = False  # the worker dies: the run gets DEAD_RUN_WAIT and the worker a restart
    setup: Callable | None = None  # (cell_context) -> None, before the first run
    clear: Callable | None = None  # (cell_context) -> None, once the fault is over


def http_fault(*kinds: str, count: int = 1, retry_after: float = 1) -> Callable:
    def strike(ctx: CellContext) -> None:
        for kind in kinds:
            ctx.sim.control("POST", "faults", json={"kind": kind, "count": count, "retry_after": retry_after})
    return strike


def slow_shop(ctx: CellContext) -> None:
    ctx.sim.app.extensions["sim_state"].timeout_seconds = SIM_TIMEOUT  # longer than READ_TIMEOUT


def shift_records(ctx: CellContext) -> None:
    """Orders leave the query (closed on the shop) and new ones arrive, while the run pages."""
    ids = sorted(ctx.selected(), key=int)
    for external_id in ids[:2] + ids[-2:]:
        close_order(ctx.platform, ctx.sim, external_id)
        ctx.touched.add(external_id)
    for _ in range(2):
        ctx.touched.add(add_remote_order(ctx.platform, ctx.sim))


def close_order(platform: str, sim, external_id: str) -> None:
    if platform == "cartum":
        sim.control("POST", f"orders/{external_id}/status", json={"status": 3})
    elif platform == "shopify":
        sim.control("POST", f"orders/{external_id}/state", json={"fulfillment_status": "fulfilled"})
    else:
        sim.control("POST", f"orders/{external_id}/status", json={"status": "completed"})


def kill_worker(ctx: CellContext) -> None:
    ctx.killed_at = time.monotonic()
    ctx.bench.kill_workers()


def restart_redis(ctx: CellContext) -> None:
    # In the background: the page goes back to the worker, which then meets the outage.
    ctx.outage = threading.Thread(target=ctx.bench.redis.restart, args=(OUTAGE,), daemon=True)
    ctx.outage.start()


def outage_over(ctx: CellContext) -> None:
    if ctx.outage is not None:
        ctx.outage.join(timeout=30)
        ctx.outage = None


def lock_sqlite(ctx: CellContext) -> None:
    """Another writer takes SQLite's write lock for OUTAGE seconds (the page is answered once
    it holds it, so the worker's page write meets it)."""
    held = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(ctx.bench.sqlite_path, timeout=10, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(OUTAGE)  # the fault's duration
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    threading.Thread(target=hold, daemon=True).start()
    held.wait(10)


def cut_postgresql(ctx: CellContext) -> None:
    ctx.bench.proxy.outage(OUTAGE)


def second_worker(ctx: CellContext) -> None:
    ctx.bench.start_worker()


def same_store_jobs(ctx: CellContext) -> None:
    """While one worker imports, the other is handed a sync and an order update of the store."""
    from webapp.extensions import db
    from webapp.models import Store
    from webapp.sync.enqueue import enqueue_order_sync, enqueue_sync

    with ctx.bench.app.app_context():
        store = db.session.get(Store, ctx.store_id)
        enqueue_sync(store)
        enqueue_order_sync(store, sorted(ctx.selected(), key=int)[:3])
        db.session.remove()


def faults_for(backend: str) -> list[Fault]:
    every = [
        Fault(CONTROL, lambda ctx: None),
        Fault("401 mid-run", http_fault("401"), kinds=("401",)),
        Fault("429 storm", http_fault("429", count=4, retry_after=1), kinds=("429",)),
        Fault("5xx", http_fault("500", "502", "503", "500"), kinds=("500", "502", "503")),
        Fault("read timeout", http_fault("timeout", count=2), kinds=("timeout",), setup=slow_shop),
        Fault("malformed JSON", http_fault("malformed", count=2), kinds=("malformed",)),
        Fault("truncated JSON", http_fault("truncated", count=2), kinds=("truncated",)),
        Fault("HTML with 200", http_fault("html"), kinds=("html",)),
        # A repeat needs an earlier answer to the same path: two, so one meets a page of orders.
        Fault("page served twice", http_fault("repeat", count=2), kinds=("repeat",)),
        Fault("records shifted", shift_records),
        Fault("worker SIGKILLed", kill_worker, dead_run=True),
        Fault("Redis restarted", restart_redis, clear=outage_over),
        Fault("SQLite locked", lock_sqlite, backends=("sqlite",)),
        Fault("PostgreSQL cut off", cut_postgresql, backends=("postgresql",)),
        Fault("two workers", same_store_jobs, setup=second_worker),
    ]
    return [fault for fault in every if backend in fault.backends]


# ---------------------------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------------------------


@dataclass
class CellContext:
    bench: Bench
    platform: str
    sim: object
    store_id: int = 0
    window_start: datetime | None = None
    touched: set[str] = field(default_factory=set)
    killed_at: float | None = None
    ended_after_kill: float | None = None
    outage: threading.Thread | None = None

    def selected(self) -> set[str]:
        """The shop's orders the rules select now (test_importer's helpers, on its own data)."""
        return SELECTED[self.platform](self.sim, self.window())

    def window(self) -> datetime:
        """Where the initial import's window starts: its first run's start less INITIAL_WINDOW."""
        if self.window_start is None:
            from webapp.extensions import db
            from webapp.models import SyncRun

            with self.bench.app.app_context():
                first = db.session.scalar(db.select(db.func.min(SyncRun.started_at))
                                          .where(SyncRun.store_id == self.store_id))
                db.session.remove()
            if first is None:
                return utcnow() - INITIAL_WINDOW  # not started yet: about the same
            self.window_start = first - INITIAL_WINDOW
        return self.window_start


def run_cell(bench: Bench, fault: Fault, platform: str) -> Cell:
    cell, started = Cell(fault.name, platform), time.monotonic()
    missing = [kind for kind in fault.kinds if kind not in sim_fault_kinds()]
    if missing:
        cell.exercised = False
        cell.notes.append(f"the simulators have no fault kind {', '.join(missing)}")
        return cell
    cell.notes += bench.ensure_one_worker()
    with serving(platform, orders=SHOP_ORDERS) as sim:
        ctx = CellContext(bench, platform, sim)
        trigger = Trigger(sim)
        try:
            _play(cell, ctx, fault, trigger)
        except Exception as error:  # noqa: BLE001 - one broken cell must not hide the others
            cell.recovered = cell.visible = False
            cell.notes.append(f"the bench itself failed here: {type(error).__name__}: {error}"[:300])
            traceback.print_exc()
        finally:
            outage_over(ctx)
            trigger.disarm()
            sim.control("DELETE", "faults")
            _switch_off(bench, ctx.store_id)
    cell.notes += [f"the worker exited by itself (code {proc.returncode}) during this cell"
                   for proc in bench.workers if proc.poll() is not None and proc.returncode != -signal.SIGKILL]
    cell.seconds = time.monotonic() - started
    return cell


def _play(cell: Cell, ctx: CellContext, fault: Fault, trigger: Trigger) -> None:
    from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync

    if fault.setup:  # before the store exists: starting a second worker takes seconds, in which
        fault.setup(ctx)  # the scheduler's tick would import a new store before the fault is armed
    with ctx.bench.app.app_context():
        ctx.store_id = connect_store(ctx.platform, ctx.sim)
    seen = [_phase(cell, ctx, fault, trigger, "import", enqueue_initial_import),
            _phase(cell, ctx, fault, trigger, "sync", enqueue_sync)]
    after = _after_the_fault(cell, ctx)  # always: the recovery is measured whatever was seen
    cell.visible = all(seen) and after


def _phase(cell: Cell, ctx: CellContext, fault: Fault, trigger: Trigger, phase: str, enqueue) -> bool:
    """One run with the fault striking mid-run; whether the fault was visible (see the docstring)."""
    if phase == "sync":
        runs_settled(ctx)  # the shop changes after the import phase's runs, not during them
        make_changes(ctx)
    ctx.touched, ctx.killed_at, ctx.ended_after_kill = set(), None, None
    served = ctx.sim.stats()["faults_served"]
    trigger.arm(STRIKE_AFTER[phase], lambda: fault.strike(ctx))
    run_id = start_run(ctx.bench, ctx.store_id, enqueue)
    state = wait_run(ctx.bench, ctx, run_id, fault.dead_run)
    trigger.disarm()
    cell.notes += [f"{phase}: striking failed: {error}" for error in trigger.errors]
    trigger.errors.clear()
    if state in ("succeeded", "failed"):  # a run that never ran is judged below, not here
        if not trigger.fired.is_set():
            cell.exercised = False
            cell.notes.append(f"{phase}: the run ended before the fault struck")
        elif fault.kinds and ctx.sim.stats()["faults_served"] == served:
            cell.exercised = False
            cell.notes.append(f"{phase}: the run ended before the shop served the fault")
    ctx.sim.control("DELETE", "faults")
    if fault.clear:
        fault.clear(ctx)
    return judge_visible(cell, ctx, phase, run_id, state)


def _after_the_fault(cell: Cell, ctx: CellContext) -> bool:
    """One more sync with the fault gone, then the comparison; False if a run stays RUNNING."""
    from webapp.sync.enqueue import enqueue_sync

    state = wait_run(ctx.bench, ctx, start_run(ctx.bench, ctx.store_id, enqueue_sync), dead_run=False)
    ctx.touched = set()
    with ctx.bench.app.app_context():
        level = compare(ctx)
        doubled = duplicate_rows(ctx.store_id)
        visible = no_run_left_running(cell, ctx.store_id)
    cell.duplicates = level.duplicates + sum(doubled.values())
    cell.lost = level.lost
    cell.notes += level.notes + [f"{n} {what} doubled" for what, n in doubled.items()]
    cell.recovered = state == "succeeded" and not level.lost and not cell.duplicates
    if state != "succeeded":
        cell.notes.append(f"the run after the fault ended {state}")
    return visible


def start_run(bench: Bench, store_id: int, enqueue) -> int:
    from webapp.extensions import db
    from webapp.models import Store

    with bench.app.app_context():
        run_id = enqueue(db.session.get(Store, store_id)).id
        db.session.remove()
    return run_id


def wait_run(bench: Bench, ctx: CellContext, run_id: int, dead_run: bool) -> str:
    """The run's state once it ended, or its state when the wait ran out (bounded)."""
    from webapp.extensions import db
    from webapp.models import SyncRun

    deadline = time.monotonic() + (DEAD_RUN_WAIT if dead_run else RUN_WAIT)
    state = "missing"
    while time.monotonic() < deadline:
        if dead_run and ctx.killed_at and not bench.live_workers():
            bench.start_worker()  # "then restarted": the operator's (or launcher's) part of the fault
        with bench.app.app_context():
            try:
                run = db.session.get(SyncRun, run_id)
                state = run.state.value if run else "missing"
            except Exception as error:  # noqa: BLE001 - the database may be the fault
                state = f"unreadable ({type(error).__name__})"
            finally:
                db.session.remove()
        if state in ("succeeded", "failed"):
            if ctx.killed_at is not None:
                ctx.ended_after_kill = time.monotonic() - ctx.killed_at
            return state
        time.sleep(0.2)
    return state


def judge_visible(cell: Cell, ctx: CellContext, phase: str, run_id: int, state: str) -> bool:
    from webapp.extensions import db
    from webapp.models import LogLevel, SyncLogEntry, SyncRun

    with ctx.bench.app.app_context():
        run = db.session.get(SyncRun, run_id)
        if ctx.killed_at is not None:
            after = ctx.ended_after_kill
            cell.notes.append(f"{phase}: the killed run was {state} "
                              + (f"{after:.0f} s after the kill" if after is not None else f"{DEAD_RUN_WAIT:.0f} s on"))
            if after is None or after > DEAD_RUN:
                return False
        if state == "failed":
            logged = db.session.scalar(db.select(SyncLogEntry.id).where(
                SyncLogEntry.store_id == ctx.store_id, SyncLogEntry.level == LogLevel.ERROR,
                SyncLogEntry.run_id == run_id).limit(1))
            cell.notes.append(f"{phase}: FAILED: {(run.error or '')[:110]}")
            if not run.error or logged is None:
                cell.notes.append(f"{phase}: the failure has no reason or no sync-log line")
                return False
            return True
        if state != "succeeded":
            cell.notes.append(f"{phase}: the run was still {state} after the wait")
            return False
        level = compare(ctx)
        if level.lost or level.duplicates:
            cell.notes.append(f"{phase}: SUCCEEDED but silently {level.lost} lost / {level.duplicates} doubled: "
                              + "; ".join(level.notes)[:200])
            return False
        return True


def runs_settled(ctx: CellContext) -> None:
    """Wait (bounded) until no run of the store is queued or running: a job the fault handed to
    a second worker may still be going, and changes made while it reads are the next run's."""
    from webapp.extensions import db
    from webapp.models import RunState, SyncRun

    deadline = time.monotonic() + RUN_WAIT
    with ctx.bench.app.app_context():
        while time.monotonic() < deadline:
            busy = db.session.scalar(db.select(db.func.count(SyncRun.id)).where(
                SyncRun.store_id == ctx.store_id, SyncRun.state.in_([RunState.RUNNING, RunState.QUEUED])))
            db.session.remove()
            if not busy:
                return
            time.sleep(0.2)  # polling the runs' state, bounded by the deadline


def no_run_left_running(cell: Cell, store_id: int) -> bool:
    from webapp.extensions import db
    from webapp.models import RunState, SyncRun

    left = db.session.scalars(db.select(SyncRun).where(
        SyncRun.store_id == store_id, SyncRun.state.in_([RunState.RUNNING, RunState.QUEUED]))).all()
    for run in left:
        cell.notes.append(f"run {run.id} ({run.kind.value}) left {run.state.value}")
    db.session.remove()
    return not any(run.state == RunState.RUNNING for run in left)


def _switch_off(bench: Bench, store_id: int) -> None:
    """The cell's store takes no more ticks: later cells run alone."""
    from webapp.extensions import db
    from webapp.models import Store

    if not store_id:
        return
    with bench.app.app_context():
        store = db.session.get(Store, store_id)
        store.enabled = False
        db.session.commit()
        db.session.remove()


# ---------------------------------------------------------------------------------------------
# The shop and the back office
# ---------------------------------------------------------------------------------------------


def connect_store(platform: str, sim) -> int:
    from webapp.stores_cli import StoreSpec, connect

    from webapp.extensions import db

    spec = StoreSpec(platform, f"Faults {platform} {sim.url}", sim.url, "Main workshop", "Online order",
                     dict(CREDENTIALS[platform]), guess_statuses=True, timezone=ZONES[platform],
                     language="en" if platform == "cartum" else "")
    store = connect(spec)
    db.session.add(store)
    db.session.commit()
    store_id = store.id
    db.session.remove()
    return store_id


def make_changes(ctx: CellContext) -> None:
    """New orders, changed quantities and statuses on the shop, between the import and the sync."""
    open_ids = open_here(ctx.store_id, ctx.bench)
    for external_id in open_ids[:CHANGES]:
        change_quantity(ctx.platform, ctx.sim, external_id, 7)
    for external_id in open_ids[CHANGES:2 * CHANGES]:
        change_status(ctx.platform, ctx.sim, external_id)
    for _ in range(CHANGES):
        add_remote_order(ctx.platform, ctx.sim)


def open_here(store_id: int, bench: Bench) -> list[str]:
    """Imported orders still open here: the ones whose changes a sync must bring (R-IMP-4)."""
    from webapp.extensions import db
    from webapp.models import Order, Status, StatusGroup

    closed = [group for group in StatusGroup if group.is_closed]
    with bench.app.app_context():
        ids = list(db.session.scalars(
            db.select(Order.external_id).join(Status, Order.status_id == Status.id)
            .where(Order.store_id == store_id, Order.written_off_at.is_(None), Status.group.not_in(closed))
            .order_by(Order.id)))
        db.session.remove()
    return ids


@dataclass
class Level:
    lost: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)


def compare(ctx: CellContext) -> Level:
    """The store's orders against the shop's: what is missing, doubled or differs."""
    from webapp.extensions import db
    from webapp.models import Order, Store

    store = db.session.get(Store, ctx.store_id)
    rows = list(db.session.scalars(db.select(Order).where(Order.store_id == store.id)))
    level = Level()
    counts = Counter(order.external_id for order in rows)
    level.duplicates = sum(n - 1 for n in counts.values())
    ours = {order.external_id: order for order in rows}
    wanted = ctx.selected() - ctx.touched
    missing = sorted(wanted - set(ours), key=int)
    level.lost = len(missing)
    if missing:
        level.notes.append(f"{len(missing)} orders missing ({', '.join(missing[:6])})")
    stale = _stale(store, ours, ctx.touched, ctx.bench, ctx.sim)
    level.lost += len(stale)
    level.duplicates += sum(1 for _, why in stale if why == "extra items")
    if stale:
        level.notes.append(f"{len(stale)} orders differ from the shop ("
                           + ", ".join(f"{i}: {why}" for i, why in stale[:4]) + ")")
    db.session.remove()
    return level


def _stale(store, ours: dict, touched: set[str], bench: Bench, sim) -> list[tuple[str, str]]:
    """Imported orders whose items (quantity, price) or status differ from the shop's now.
    Where the platform cannot list changed orders (Cartum), only orders open here are followed
    (R-IMP-4): the others are left out of the comparison."""
    from webapp.sync.importer import _statuses_ignored, line_values
    from webapp.sync.platform import rules_for

    followed = set(ours) if rules_for(store).tracks_updates else set(open_here(store.id, bench))
    ids = [external_id for external_id in ours if external_id not in touched and external_id in followed]
    remote = _shop_orders(store, ids, sim)
    check_status = not _statuses_ignored(rules_for(store))
    mapped = store.status_map or {}
    stale = []
    for external_id in ids:
        order, shop_order = ours[external_id], remote.get(external_id)
        if shop_order is None:
            continue  # gone from the shop: nothing to compare with
        want = sorted(line_values(line) for line in shop_order.items if line.quantity > 0)
        have = sorted((item.quantity, item.price) for item in order.items)
        if have != want:
            stale.append((external_id, "extra items" if len(have) > len(want) else "items differ"))
        elif check_status and mapped.get(shop_order.status_id) and order.platform_status != shop_order.status_id:
            stale.append((external_id, f"status {order.platform_status} here, {shop_order.status_id} there"))
    return stale


def _shop_orders(store, ids: list[str], sim) -> dict:
    """The shop's orders as its simulator keeps them (``GET /_sim/orders/<id>``), mapped as the
    adapter maps them (``preview``), never through the shop's API: a bench read there would be
    an answer that the "page served twice" fault could replay to the product's next request."""
    from webapp.platforms import PLATFORMS

    adapter, options = PLATFORMS[store.platform], {"timezone": store.timezone or "", "language": store.language}
    found = {}
    for external_id in ids:
        try:
            raw = sim.control("GET", f"orders/{external_id}")
        except requests.HTTPError:
            continue  # gone from the shop
        found.update((order.external_id, order) for order in adapter.preview(raw, options))
    return found


def duplicate_rows(store_id: int) -> Counter:
    """Among the clients and products of the store's orders: clients sharing an e-mail, and
    products sharing the value the store identifies products by (R-PRD-2): each would be one
    row if nothing had been doubled."""
    from webapp.extensions import db
    from webapp.models import Client, Order, OrderItem, Product, Store
    from webapp.sync.platform import rules_for

    store = db.session.get(Store, store_id)
    _, field = rules_for(store).match_fields(store.identify_by)
    clients = db.select(Order.client_id).where(Order.store_id == store_id)
    products = db.select(OrderItem.product_id).join(Order).where(Order.store_id == store_id)
    found = Counter()
    for name, model, column, ours in (("clients by e-mail", Client, Client.email, clients),
                                      (f"products by {field}", Product, getattr(Product, field), products)):
        rows = db.func.count(db.distinct(model.id))
        groups = db.session.scalars(db.select(rows).select_from(model)
                                    .where(model.id.in_(ours), column.is_not(None), column != "")
                                    .group_by(column).having(rows > 1))
        found[name] = sum(n - 1 for n in groups)
    return +found


def sim_fault_kinds() -> tuple[str, ...]:
    from simulators import common
    return tuple(common.FAULT_KINDS)


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------


def plan(faults: list[Fault], platforms: list[str], short: bool) -> list[tuple[Fault, str]]:
    if short:  # each fault once, the platforms taking turns; the control row is for the full run
        faults = [fault for fault in faults if fault.name != CONTROL]
        return [(fault, platforms[i % len(platforms)]) for i, fault in enumerate(faults)]
    return [(fault, platform) for fault in faults for platform in platforms]


def print_matrix(cells: list[Cell], platforms: list[str], header: str) -> None:
    print(header)
    print("cell: recovered / duplicates / lost / visible")
    width = max(len(cell.fault) for cell in [*cells, Cell("fault", "")]) + 2
    print(f"{'fault':<{width}}" + "".join(f"{p:<22}" for p in platforms))
    for fault in dict.fromkeys(cell.fault for cell in cells):
        row = {cell.platform: cell for cell in cells if cell.fault == fault}
        print(f"{fault:<{width}}" + "".join(f"{row[p].text() if p in row else '-':<22}" for p in platforms))
    failing = [cell for cell in cells if not cell.ok]
    print(f"\n{len(cells) - len(failing)} of {len(cells)} cells recovered / 0 / 0 / yes")
    for cell in cells:
        if not cell.ok or cell.notes:
            print(f"- {cell.fault} x {cell.platform} ({cell.seconds:.0f} s){'' if cell.ok else ' FAILS'}:")
            for note in cell.notes:
                print(f"    {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="each fault once, platforms taking turns")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--platform", action="append", choices=PLATFORM_NAMES, help="only these platforms")
    parser.add_argument("--fault", action="append", help="only faults whose name contains this")
    parser.add_argument("--json", type=Path, help="also write the cells to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return 0
    tune()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the simulators' request lines
    platforms = args.platform or list(PLATFORM_NAMES)
    faults = [f for f in faults_for(args.db) if not args.fault or any(s.lower() in f.name.lower() for s in args.fault)]
    started, cells = time.monotonic(), []
    with tempfile.TemporaryDirectory(prefix="orderdock-faults-") as folder:
        bench = Bench(Path(folder), args.db)
        try:
            bench.start_scheduler()
            bench.start_worker()
            for fault, platform in plan(faults, platforms, args.short):
                cell = run_cell(bench, fault, platform)
                cells.append(cell)
                print(f"  {fault.name} x {platform}: {cell.text()} ({cell.seconds:.0f} s)", flush=True)
        finally:
            bench.close()
    print_matrix(cells, platforms, f"\nFault matrix on {args.db}, {SHOP_ORDERS} orders per shop, pages of "
                                   f"{PAGE_SIZE}, {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(cell), "ok": cell.ok} for cell in cells], indent=1))
    return 0 if all(cell.ok for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
