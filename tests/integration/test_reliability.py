"""R-REL-2/R-REL-3: faults of our own services, for real — a SQLite file write-locked by another
connection, a worker SIGKILLed mid-import, a Redis restarted under a worker. Every run ends
SUCCEEDED or FAILED with its reason on the run, the store and the sync log; never RUNNING."""
from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from tests.integration.test_sync_jobs import (
    connect_store, fresh, kill_worker, order_count, start_worker, wait_until, worker_env,
)
from tests.integration.test_sync_jobs import quick_budget  # noqa: F401 (autouse here too: a quicker shop budget)
from tests.support.services import free_port
from tests.support.simulators import serving
from webapp import create_app
from webapp.extensions import db
from webapp.models import ImportState, LogLevel, Order, RunState, Store, SyncLogEntry, SyncRun
from webapp.sync import jobs, runner
from webapp.sync.enqueue import enqueue_initial_import

ROOT = Path(__file__).resolve().parents[2]
BUSY_TIMEOUT = 1.0  # seconds a writer waits for SQLite's lock in these tests (5 by default)


@pytest.fixture
def app(app):
    """The conftest's app (its database, Redis, emptied tables) made again with a short SQLite
    busy timeout, so that a lock outlasts it quickly."""
    keys = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY", "INSTANCE_PATH", "TESTING")
    quick = create_app({**{key: app.config[key] for key in keys}, "DATABASE_BUSY_TIMEOUT": BUSY_TIMEOUT})
    with quick.app_context():
        yield quick
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def let_go_of_locks(app):
    """A test that failed must not leave the file locked for the app's clean-up and the next."""
    yield
    while WriteLock.taken:
        lock = WriteLock.taken.pop()
        lock.abandon.set()
        lock.thread.join(10)


def sqlite_file(app) -> str:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite:///"):
        pytest.skip("SQLite's file lock: PostgreSQL has none such")
    return url.removeprefix("sqlite:///")


class WriteLock:
    """Another program's write transaction on the SQLite file (BEGIN IMMEDIATE), held from a
    thread of its own until ``release_when()`` is true (polled, bounded) or for ``seconds``."""

    taken: list[WriteLock] = []

    def __init__(self, path: str, *, seconds: float | None = None, release_when=None, limit: float = 60):
        self.path, self.seconds, self.release_when, self.limit = path, seconds, release_when, limit
        self.held, self.released, self.abandon = threading.Event(), threading.Event(), threading.Event()
        WriteLock.taken.append(self)
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def take(self) -> None:
        self.thread.start()
        assert self.held.wait(10), "could not take the write lock"

    def _hold(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")
        self.held.set()
        deadline = time.monotonic() + (self.seconds if self.seconds is not None else self.limit)
        while time.monotonic() < deadline and not (self.release_when and self.release_when()):
            if self.abandon.wait(0.05):
                break
        connection.execute("ROLLBACK")
        connection.close()
        self.released.set()


def logged(caplog, text: str):
    return lambda: any(text in record.getMessage() for record in caplog.records)


def error_lines(store_id: int) -> list[SyncLogEntry]:
    return list(db.session.scalars(select(SyncLogEntry).filter_by(store_id=store_id, level=LogLevel.ERROR)))


# --- SQLite locked by another writer -------------------------------------------------------


SHOP_ORDERS = 400  # about 270 orders in the initial import's window: 3 pages


def run_initial_with_lock_after_first_page(app, sim, lock_kwargs: dict):
    """An initial import in the foreground; after its first page, another connection write-locks
    the database file. The store id, run id and the first page's order count."""
    path = sqlite_file(app)
    store = connect_store("cartum", sim)
    store_id, run_id = store.id, enqueue_initial_import(store).id
    first_page: list[int] = []

    def after_page(run: SyncRun) -> None:
        if not first_page:
            first_page.append(run.created)
            WriteLock(path, **lock_kwargs).take()

    assert jobs.initial_import(store_id, run_id, progress=after_page) == run_id
    return store_id, run_id, first_page[0]


def test_R_REL_3_a_run_under_a_locked_database_ends_failed_with_its_reason_never_running(app, office, redis,
                                                                                        caplog):
    """Locked longer than every page attempt: FAILED, its reason on the run, the store and the
    log; the pages before stay committed, and the next run goes on from the checkpoint. The
    lock is let go once the failure path has met it, so that path's own retry is tested too."""
    with serving("cartum", orders=SHOP_ORDERS) as sim:
        store_id, run_id, first = run_initial_with_lock_after_first_page(
            app, sim, {"release_when": logged(caplog, "recording a failure: database fault")})
        check_failed_then_resumed(store_id, run_id, first, caplog)


def check_failed_then_resumed(store_id: int, run_id: int, first: int, caplog) -> None:
    run, store = fresh(SyncRun, run_id), db.session.get(Store, store_id)
    assert run.state == RunState.FAILED and "database was busy or unreachable" in run.error, run.error
    assert run.finished_at is not None and "locked" in run.error
    assert store.last_error == run.error and store.last_error_at is not None
    assert [line.run_id for line in error_lines(store_id)] == [run_id]
    assert store.checkpoint and order_count(store_id) == run.created == first  # the first page is kept
    assert sum("again in" in r.getMessage() for r in caplog.records) >= runner.PAGE_ATTEMPTS - 1

    next_run = jobs.initial_import(store_id)  # the next tick's run goes on from the checkpoint
    done = fresh(SyncRun, next_run)
    assert done.state == RunState.SUCCEEDED, done.error
    assert fresh(Store, store_id).import_state == ImportState.DONE
    ids = list(db.session.scalars(select(Order.external_id).where(Order.store_id == store_id)))
    assert len(ids) == len(set(ids)) == first + done.created


def test_R_REL_2_a_lock_shorter_than_the_busy_timeout_costs_nothing(app, office, redis, caplog):
    """The issue's 0.3 s lock: the page waits for it (BEGIN IMMEDIATE) instead of failing."""
    with serving("cartum", orders=SHOP_ORDERS) as sim:
        store_id, run_id, _ = run_initial_with_lock_after_first_page(app, sim, {"seconds": 0.3})
    run = fresh(SyncRun, run_id)
    assert run.state == RunState.SUCCEEDED, run.error
    assert fresh(Store, store_id).import_state == ImportState.DONE and error_lines(store_id) == []
    assert order_count(store_id) == run.created
    assert not logged(caplog, "database fault")()  # the busy timeout absorbed it: no retry needed


def test_R_REL_3_a_run_whose_creation_meets_the_lock_is_recorded_failed(app, office, redis, caplog):
    """`flask stores sync` (no run yet) while the file is locked: the run's creation is retried,
    then a FAILED run is written with the reason, once the failure path gets through."""
    path = sqlite_file(app)
    with serving("cartum", orders=40) as sim:
        store_id = connect_store("cartum", sim).id
        lock = WriteLock(path, release_when=logged(caplog, "recording a failure: database fault"))
        lock.take()
        run_id = jobs.initial_import(store_id)
        assert lock.released.wait(10)
    assert run_id is not None
    run, store = fresh(SyncRun, run_id), db.session.get(Store, store_id)
    assert run.state == RunState.FAILED and "database was busy" in run.error
    assert store.last_error == run.error and [line.run_id for line in error_lines(store_id)] == [run_id]
    assert logged(caplog, "run start: database fault")()


def test_R_REL_2_postgresql_dropping_the_run_s_connection_between_pages_costs_nothing(app, office, redis, caplog):
    """The server ends the backend the run works on (a restart, a failover, an idle killer):
    the page in flight is read again on a new connection, and the run succeeds."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL's connections: set TEST_DATABASE_URL")
    dropped: list[int] = []

    def drop_connection(run: SyncRun) -> None:
        if len(dropped) < 2:  # after the first two pages
            pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with db.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            dropped.append(pid)

    with serving("cartum", orders=SHOP_ORDERS) as sim:
        store = connect_store("cartum", sim)
        store_id, run_id = store.id, enqueue_initial_import(store).id
        assert jobs.initial_import(store_id, run_id, progress=drop_connection) == run_id
    run = fresh(SyncRun, run_id)
    assert len(dropped) == 2 and run.state == RunState.SUCCEEDED, run.error
    assert order_count(store_id) == run.created and error_lines(store_id) == []
    assert logged(caplog, "database fault")()


# --- a worker SIGKILLed mid-import: noticed and resumed within a minute ------------------


def start_worker_argv(role: str) -> list[str]:
    return [sys.executable, "worker.py", role]


def start_scheduler(app) -> subprocess.Popen:
    return subprocess.Popen(start_worker_argv("schedule"), cwd=ROOT, env=worker_env(app),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_R_REL_3_a_worker_killed_mid_import_is_noticed_and_resumed_within_a_minute(app, office, redis):
    """Only RQ's cron scheduler and a second worker (as the launcher restarts one) are running:
    no one enqueues by hand. The same run goes on from its checkpoint and ends SUCCEEDED."""
    with serving("cartum", orders=1200) as sim:
        store = connect_store("cartum", sim)
        store_id, run_id = store.id, enqueue_initial_import(store).id
        scheduler, worker = start_scheduler(app), start_worker(app)
        restarted = None
        try:
            wait_until(lambda: fresh(Store, store_id).checkpoint, 90, "the first committed page")
            kill_worker(worker)
            killed = order_count(store_id)
            assert fresh(SyncRun, run_id).state == RunState.RUNNING
            restarted = start_worker(app)
            wait_until(lambda: order_count(store_id) > killed, 60, "the dead run to be noticed and resumed")
            done = wait_until(lambda: (r := fresh(SyncRun, run_id)).state == RunState.SUCCEEDED and r, 120,
                              "the resumed run to finish")
        finally:
            for proc in (scheduler, restarted):
                if proc is not None:
                    kill_worker(proc)
        ids = list(db.session.scalars(select(Order.external_id).where(Order.store_id == store_id)))
        assert len(ids) == len(set(ids)) == done.created
        assert db.session.scalar(select(func.count(SyncRun.id)).where(SyncRun.store_id == store_id)) == 1


# --- Redis restarted under a worker ---------------------------------------------------------


@contextmanager
def private_redis(tmp_path):
    """A redis-server of this test's own (never the shared one), which the test may restart."""
    binary = shutil.which("redis-server") or pytest.skip("redis-server is not installed")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]
    client = Redis(port=port, socket_timeout=2)

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _pings(client), 10, "the private redis-server")
        return proc

    server = {"proc": start()}

    def restart(down_for: float) -> None:
        server["proc"].terminate()
        server["proc"].wait(10)
        time.sleep(down_for)  # the outage itself, not a wait for state
        server["proc"] = start()

    try:
        yield f"redis://127.0.0.1:{port}/0", client, restart
    finally:
        server["proc"].kill()
        server["proc"].wait(10)


def _pings(client: Redis) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


def test_R_REL_2_a_worker_rides_out_a_restart_of_its_redis_and_runs_the_next_job(app, tmp_path):
    with private_redis(tmp_path) as (url, client, restart):
        env = {**worker_env(app), "REDIS_URL": url}
        worker = subprocess.Popen(start_worker_argv("work"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            from rq import Queue
            busy = Queue("default", connection=client).enqueue("time.sleep", 1)  # ends while Redis is away
            wait_until(lambda: busy.get_status(refresh=True) == "started", 30, "the worker to take the job")
            restart(down_for=2)  # Redis gone for 2 s in the middle of the job

            after = Queue("default", connection=client).enqueue("time.sleep", 0)
            wait_until(lambda: after.get_status(refresh=True) == "finished" or worker.poll() is not None, 60,
                       "the next job, after the restart")
            assert worker.poll() is None, "the worker exited: " + worker.stdout.read()[-3000:]
        finally:
            kill_worker(worker)


@contextmanager
def registered_scheduler(app, url: str, client: Redis):
    """`worker.py schedule` on the Redis at ``url``, once RQ's registry holds it; killed after."""
    from rq import cron_scheduler_registry

    scheduler = subprocess.Popen(start_worker_argv("schedule"), cwd=ROOT, env={**worker_env(app), "REDIS_URL": url},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
    try:
        wait_until(lambda: client.zcard(cron_scheduler_registry.get_registry_key()) or scheduler.poll() is not None,
                   60, "the scheduler to register")
        assert scheduler.poll() is None, scheduler.stdout.read()[-3000:]
        yield scheduler
    finally:
        kill_worker(scheduler)


def test_R_REL_2_a_scheduler_asked_to_stop_after_its_redis_died_stops(app, tmp_path):
    """The launcher killed outright takes its Redis with it, and the kernel asks the scheduler
    to stop (PR_SET_PDEATHSIG). RQ's scheduler records its death in Redis on the
    way out; that failing must end the process, not start a wait for Redis that nothing would
    ever interrupt (seen under load: a `worker.py schedule` left running)."""
    with private_redis(tmp_path) as (url, client, _restart), registered_scheduler(app, url, client) as scheduler:
        with contextlib.suppress(Exception):  # the server closes the connection as it goes
            client.shutdown(nosave=True)
        scheduler.send_signal(signal.SIGTERM)
        wait_until(lambda: scheduler.poll() is not None, 30, "the scheduler to stop")


def test_R_REL_2_a_scheduler_sent_several_sigterms_at_once_stops_cleanly(app, tmp_path):
    """A launcher killed outright sends its scheduler one SIGTERM per launcher thread as each
    exits (PR_SET_PDEATHSIG follows the forking thread, and the child is handed to the next).
    The stop flag was a threading.Event, whose set() takes a lock: a second handler run inside
    the first one's set() waited forever (seen in CI: a `worker.py schedule` left behind). The
    later signals must neither hang the stop under way nor cut it short with a traceback."""
    from rq import cron_scheduler_registry

    with private_redis(tmp_path) as (url, client, _restart), registered_scheduler(app, url, client) as scheduler:
        for _ in range(200):  # spread over its stop, as the launcher's threads end one by one
            scheduler.send_signal(signal.SIGTERM)
            time.sleep(0.0005)  # the scenario's spacing, not a wait for state
        wait_until(lambda: scheduler.poll() is not None, 30, "the scheduler to stop")
        output = scheduler.stdout.read()
        # -SIGTERM: a signal that came as the interpreter was ending (it restores the default)
        assert scheduler.returncode in (0, -signal.SIGTERM) and "Traceback" not in output, output[-3000:]
        assert client.zcard(cron_scheduler_registry.get_registry_key()) == 0  # its death recorded
