"""Issue 15, "Growing": do initial imports on their own queue leave the 5-minute syncs, the
webhook jobs and the status pushes on time, and what happens without that separation?

The bench's version of tests/integration/test_ops_queues.py. Each row of the table is a fresh
world (bench/faults.py's ``Bench``: a redis-server of its own, a migrated database with the demo
data, the app): a small WooCommerce store imported in this process, then large WooCommerce
shops on a slow host (``/_sim/slow``: every answer ``--slow`` s late) connected and their
initial imports enqueued, then ``--imports`` + 1 real ``worker.py work`` processes:

  split                  N on ``--queues initial`` + 1 on ``--queues default,push,hooks,sync``
                         (what docs/deploy.md and `make run` run), N imports
  split, N+1 imports     the same workers, one import more than there are importers: it waits
  one queue set          N + 1 plain ``worker.py work`` (every queue), N imports: one worker
                         is left over, and RQ's queue order gives it the short jobs first
  one queue set, N+1     the same workers, one import per worker: none is left for the rest,
                         which wait until an import ends (hours, for a big shop)

Once the imports run, each of ``--rounds`` rounds fires, one right after the other, on the
small store: a signed WooCommerce delivery posted to ``/hooks/<token>/woocommerce`` through the
app's test client (after an order's quantity rose on the shop), a status change of another
order through its page (the push), and a sync (``enqueue_sync``, the job the scheduler's tick
enqueues for a due store: enqueued directly, since a tick comes once a minute; last, as a sync
run first could bring the webhook's change itself). Each is timed from its action to done: the
order's quantity changed here, the shop's order has the new status, the run SUCCEEDED (or
FAILED). Fired together, they queue behind one another on a free worker as on a busy day. A
round whose waits run past ``--timeout`` is the layout's last (later rounds would queue behind
the same jobs); such a wait prints as "> T".

Printed per row: p50 and max seconds per kind, the rounds done, and the imports' state at the
end ("2 of 2 running": they overlapped every measurement). The large shops hold enough orders
for an import to outlast ``--timeout`` and the setup. No scheduler runs: nothing but the
bench enqueues work. Every wait is bounded; the workers (and their work horses) are killed
and the temporary folder (and PostgreSQL schema) removed at the end, on Ctrl-C too.

    .venv/bin/python bench/queues.py [--imports 2] [--rounds 3] [--slow 2] [--db sqlite|postgresql]
                                     [--timeout 60]

``--db postgresql`` uses TEST_DATABASE_URL (else postgresql://postgres@127.0.0.1:5432/test)
with a private schema per row, dropped at the end. FAULTS_LOG_DIR=folder keeps the workers'
output there (``Bench``'s setting; else it goes with the temporary folder). Exit status 1 when a split row missed its
timeout or its imports did not overlap the measurements.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faults  # noqa: E402  (bench/ is this script's folder; it allows the loopback shops)
import performance  # noqa: E402
from ensure_redis import die_with_parent  # noqa: E402  (scripts/, on the path since faults' import)
from sqlalchemy import select  # noqa: E402

from tests.integration.conftest import sign_in  # noqa: E402
from tests.integration.test_ops_health import stop  # noqa: E402
from tests.integration.test_webhooks import (  # noqa: E402
    OPEN, TARGET, change_quantity, connect_store, deliver, delivery, fresh, mapped_store, quantities, set_status,
)
from tests.support import factories  # noqa: E402
from tests.support.simulators import serving  # noqa: E402
from webapp.demo import demo_password  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Order, RunState, Status, StatusGroup, Store, SyncRun  # noqa: E402
from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync  # noqa: E402

PLATFORM = "woocommerce"
SMALL_ORDERS = 120  # the small store: about 80 imported, enough open ones for every round
PAGE, IN_WINDOW = 100, 2 / 3  # WooCommerce's page; the import's two months of the simulator's 90 days
SLACK = 90.0  # seconds an import must run beyond --timeout: workers starting, the rounds' own work
POLL = 0.05  # seconds between looks at the database and the shop
STATUSES = {"Processing": StatusGroup.IN_PROGRESS, "On hold": StatusGroup.PENDING,  # what the store's
            "Completed": StatusGroup.COMPLETED, "Shipping": StatusGroup.DELIVERY}  # map needs beyond the demo's
KINDS = ("sync", "webhook", "push")
OTHERS = "default,push,hooks,sync"


@dataclass
class Layout:
    name: str
    queues: list[str]  # one --queues value per worker process ("" = every queue)
    imports: int

    @property
    def split(self) -> bool:
        return "initial" in self.queues

    def workers(self) -> str:
        if not self.split:
            return f"{len(self.queues)} on every queue"
        return f"{self.queues.count('initial')} initial + 1 {OTHERS}"

    def importing(self) -> int:
        """Imports that can run at once: the rest wait on the queue."""
        takers = self.queues.count("initial") if self.split else len(self.queues)
        return min(self.imports, takers)


@dataclass
class Row:
    layout: Layout
    seconds: dict[str, list[float | None]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    rounds: int = 0
    imports: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def on_time(self) -> bool:
        return self.rounds > 0 and all(s is not None for kind in KINDS for s in self.seconds[kind])


def layouts(n: int) -> list[Layout]:
    split = ["initial"] * n + [OTHERS]
    every = [""] * (n + 1)
    return [Layout("split", split, n), Layout(f"split, {n + 1} imports", split, n + 1),
            Layout("one queue set", every, n), Layout(f"one queue set, {n + 1} imports", every, n + 1)]


def large_orders(timeout: float, slow: float) -> int:
    """Orders per large shop: an import of that many pages, each ``slow`` s, outlasts the row."""
    pages = math.ceil((timeout + SLACK) / max(slow, 0.1))
    return min(60000, max(4000, math.ceil(pages * PAGE / IN_WINDOW)))


# --- one row ----------------------------------------------------------------------------------


def run_row(layout: Layout, args, folder: Path) -> Row:
    row = Row(layout)
    folder.mkdir(parents=True)
    bench = faults.Bench(folder, args.db)
    procs: list[subprocess.Popen] = []
    try:
        with bench.app.app_context(), ExitStack() as sims:
            small_sim = sims.enter_context(serving(PLATFORM, orders=SMALL_ORDERS))
            small = prepare_small_store(small_sim)
            large = [start_import(sims.enter_context(serving(PLATFORM, orders=large_orders(args.timeout, args.slow),
                                                             seed=2 + i)), args.slow)
                     for i in range(layout.imports)]
            start_workers(bench, layout, procs)
            if not wait(lambda: running(large) >= layout.importing(), args.timeout):
                row.notes.append(f"the imports were not running within {args.timeout:.0f} s")
                return row
            client = bench.app.test_client()
            sign_in(client, "admin", demo_password())
            for _ in range(args.rounds):
                took = one_round(client, small, small_sim, args.timeout, row.notes)
                row.rounds += 1
                for kind in KINDS:
                    row.seconds[kind].append(took.get(kind))
                if len(took) < len(KINDS):
                    break  # every worker is taken: the next round would queue behind these jobs
            row.imports = import_states(large)
    finally:
        for proc in procs:
            stop(proc)  # the worker and its work horse (RQ puts it in a process group of its own)
        bench.close()
    return row


def prepare_small_store(sim) -> int:
    """The small store, imported here (before any worker starts) and mapped: its id."""
    for name, group in STATUSES.items():
        if db.session.scalar(select(Status.id).filter_by(name=name)) is None:
            factories.status(name, group)
    # The import's in-process RQ worker takes over SIGINT and SIGTERM and keeps them: give
    # them back, so that Ctrl-C is a KeyboardInterrupt here and the cleanup runs.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return mapped_store(PLATFORM, sim)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def start_import(sim, slow: float) -> tuple[int, int]:
    """A large store connected to ``sim``, the shop made slow, its import enqueued: (store, run)."""
    store = connect_store(PLATFORM, sim)
    sim.control("POST", "slow", json={"seconds": slow})  # after connecting: verifying stays quick
    return store.id, enqueue_initial_import(store).id


def start_workers(bench, layout: Layout, procs: list[subprocess.Popen]) -> None:
    """The layout's ``worker.py work`` processes, into ``procs`` one by one (the caller kills
    whatever started, even if a later one fails), once each is registered."""
    env = {**bench.env(), "DATABASE_URL": bench.database_url}  # straight to the database, not the fault proxy
    for queues in layout.queues:
        args = [sys.executable, "worker.py", "work", *(["--queues", queues] if queues else [])]
        procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=bench.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=die_with_parent()))  # gone with the bench, even on SIGKILL
    for proc in procs:
        bench._wait_registered(proc)  # bounded; the measurements must not count a worker's start


def running(large: list[tuple[int, int]]) -> int:
    return sum(fresh(SyncRun, run_id).state == RunState.RUNNING for _, run_id in large)


def import_states(large: list[tuple[int, int]]) -> str:
    """"2 of 3 running, 1 queued": the running ones first."""
    states = [fresh(SyncRun, run_id).state.value for _, run_id in large]
    others = sorted({state for state in states} - {"running"})
    return ", ".join([f"{states.count('running')} of {len(states)} running",
                      *(f"{states.count(state)} {state}" for state in others)])


# --- one round: a sync, a webhook's job and a push, fired together ---------------------------


def one_round(client, small: int, sim, timeout: float, notes: list[str]) -> dict[str, float]:
    """Seconds from each action to done; a kind missing ran past ``timeout``."""
    push_order, hook_order = round_orders(small)
    began, checks = {}, {}
    # The sync goes last: run first, it could bring the webhook's change itself.
    order_id, external_id, quantity = hook_order
    began["webhook"] = time.monotonic()
    change_quantity(PLATFORM, sim, external_id, int(quantity) + 2)
    response = deliver(client, small, PLATFORM, delivery(PLATFORM, sim, external_id))
    if response.status_code != 200:
        notes.append(f"the webhook delivery got {response.status_code}")
    checks["webhook"] = lambda: quantities(order_id)[0] == quantity + 2

    name, theirs = TARGET[PLATFORM]
    began["push"] = time.monotonic()
    set_status(client, push_order, name)
    shop_id = db.session.get(Order, push_order).external_id
    checks["push"] = lambda: sim.control("GET", f"orders/{shop_id}")["status"] == theirs

    began["sync"] = time.monotonic()
    run_id = enqueue_sync(db.session.get(Store, small)).id
    checks["sync"] = lambda: fresh(SyncRun, run_id).state in (RunState.SUCCEEDED, RunState.FAILED)

    took = watch(checks, began, timeout)
    if "sync" in took and fresh(SyncRun, run_id).state == RunState.FAILED:
        notes.append(f"a sync FAILED: {(fresh(SyncRun, run_id).error or '')[:100]}")
    return took


def round_orders(store_id: int) -> tuple[int, tuple[int, str, object]]:
    """Two of the store's orders open on the shop, with lines: the first for the push (it leaves
    the open status), the last for the webhook (its first line's quantity rises each round)."""
    db.session.remove()
    orders = [order for order in db.session.scalars(
        select(Order).where(Order.store_id == store_id, Order.written_off_at.is_(None),
                            Order.platform_status.in_(OPEN[PLATFORM])).order_by(Order.id)) if order.items]
    if len(orders) < 2:
        raise RuntimeError("the small store has fewer than two open orders left for a round")
    last = orders[-1]
    return orders[0].id, (last.id, last.external_id, last.items[0].quantity)


def watch(checks: dict[str, Callable[[], bool]], began: dict[str, float], timeout: float) -> dict[str, float]:
    """Seconds to each check holding, polled together; a check still false ``timeout`` s after
    its action is left out."""
    took: dict[str, float] = {}
    while len(took) < len(checks):
        now = time.monotonic()
        pending = [kind for kind in checks if kind not in took]
        if all(now - began[kind] > timeout for kind in pending):
            break
        for kind in pending:
            if checks[kind]():
                took[kind] = time.monotonic() - began[kind]
        time.sleep(POLL)
    return took


def wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL * 2)
    return False


# --- the table --------------------------------------------------------------------------------


def figures(values: list[float | None], timeout: float) -> tuple[str, str]:
    if not values:
        return "—", "—"
    # A wait that ran out counts as longer than any that ended, for the median too.
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    middle = ordered[(len(ordered) - 1) // 2: len(ordered) // 2 + 1]
    if any(v is None for v in middle):
        p50 = f"> {timeout:.0f}"
    else:
        p50 = f"{statistics.mean(middle):.2f}"
    top = ordered[-1]
    return p50, f"> {timeout:.0f}" if top is None else f"{top:.2f}"


def render(rows: list[Row], args, load: tuple, seconds: float) -> str:
    name_width = max(len(row.layout.name) for row in rows) + 2
    workers_width = max(len(row.layout.workers()) for row in rows) + 2
    head = f"{'layout':<{name_width}}{'workers':<{workers_width}}{'imports':>7} " + "".join(
        f"{kind + ' p50':>12}{'max':>7}" for kind in KINDS) + "  rounds  imports at the end"
    lines = [f"A small store's sync, webhook job and status push while large WooCommerce shops import, in "
             f"seconds from the action to done ({args.db}; each large shop answers in {args.slow:g} s)",
             f"{os.cpu_count()} cores, load {performance.format_load(load)}, {seconds:.0f} s", head]
    for row in rows:
        cells = "".join(f"{p50:>12}{top:>7}" for p50, top in (figures(row.seconds[k], args.timeout) for k in KINDS))
        lines.append(f"{row.layout.name:<{name_width}}{row.layout.workers():<{workers_width}}"
                     f"{row.layout.imports:>7} {cells}  {row.rounds} of {args.rounds:<3} {row.imports or '—'}")
    for row in rows:
        lines += [f"- {row.layout.name}: {note}" for note in dict.fromkeys(row.notes)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--imports", type=int, default=2, help="large shops importing at once")
    parser.add_argument("--rounds", type=int, default=3, help="syncs, webhooks and pushes timed per layout")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds each large shop takes to answer")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any wait may take")
    args = parser.parse_args()
    if args.imports < 1 or args.rounds < 1:
        parser.error("--imports and --rounds must be at least 1")
    if args.db == "postgresql":
        os.environ.setdefault("TEST_DATABASE_URL", performance.POSTGRES)
    # Warnings and errors only: each row's migrations, the simulators' request lines and the
    # in-process import's worker would bury the table (the workers' output goes to a log file).
    logging.disable(logging.INFO)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally blocks clean up, as on Ctrl-C
    load, started, rows = os.getloadavg(), time.monotonic(), []
    try:
        with tempfile.TemporaryDirectory(prefix="orderdock-queues-") as folder:
            for number, layout in enumerate(layouts(args.imports)):
                print(f"  {layout.name}: {layout.workers()}, {layout.imports} imports", flush=True)
                rows.append(run_row(layout, args, Path(folder) / str(number)))
    except KeyboardInterrupt:
        print("Stopped: the workers, the Redis and the temporary files are gone.", file=sys.stderr)
        return 130
    print(render(rows, args, load, time.monotonic() - started))
    split_ok = all(row.on_time and row.imports.startswith(f"{row.layout.importing()} of")
                   for row in rows if row.layout.split)
    return 0 if split_ok else 1


if __name__ == "__main__":
    sys.exit(main())
