"""The demo a newcomer gets from `make run`: demo data, one demo store per platform connected
to its simulator, and their initial imports (R-CON-6) done by the worker within a minute."""
from __future__ import annotations

import json
import os
import queue as queue_module
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from rq import SimpleWorker
from sqlalchemy import func, select

from simulators import woocommerce as woo_sim
from tests.support.processes import descendants
from tests.support.simulators import serving
from tests.support.services import free_port
from webapp.demo_stores import DEMO
from webapp.extensions import db, redis_client
from webapp.models import ImportState, Order, RunState, Store, SyncRun
from webapp.sync.queues import QUEUES, queue

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "cartum": {"credentials": {"login": "manager", "password": "cartum-demo"}, "timezone": "Europe/Kyiv",
               "language": "en"},
    "shopify": {"credentials": {"access_token": "shpat_simulator"}},
    "woocommerce": {"credentials": {"consumer_key": woo_sim.CONSUMER_KEY,
                                    "consumer_secret": woo_sim.CONSUMER_SECRET}},
}


def demo_shops(sims: dict) -> str:
    """What the launcher sends `flask stores demo` on stdin (R-SEC-6: not in its environment)."""
    return json.dumps({platform: {"url": sim.url, **SETTINGS[platform]} for platform, sim in sims.items()})


def test_R_CON_6_demo_stores_connect_to_the_simulators_once_and_import_their_orders(app, redis):
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["seed-demo", "--print-login"])
    assert seeded.exit_code == 0 and re.fullmatch(r"LOGIN admin \S+", seeded.output.splitlines()[-1])
    with serving("cartum", orders=60) as cartum, serving("shopify", orders=60) as shopify, \
            serving("woocommerce", orders=60) as woocommerce:
        shops = demo_shops({"cartum": cartum, "shopify": shopify, "woocommerce": woocommerce})
        first = runner.invoke(args=["stores", "demo"], input=shops)
        assert first.exit_code == 0 and first.output.count(" connected to ") == 3, first.output
        jobs = sorted(queue("initial").job_ids)
        second = runner.invoke(args=["stores", "demo"], input=shops)  # a second `make run` before the worker ran
        assert second.exit_code == 0 and sorted(queue("initial").job_ids) == jobs and len(jobs) == 3

        db.session.remove()
        stores = db.session.scalars(select(Store).order_by(Store.id)).all()
        assert sorted(s.name for s in stores) == sorted(name for name, _ in DEMO.values())
        assert all(s.location.name in ("Main workshop", "City shop") and s.order_type.name == "Online order"
                   and s.managers_all for s in stores)
        assert len(_store(stores, "cartum").status_map) == 6 and len(_store(stores, "woocommerce").status_map) >= 8
        SimpleWorker([queue(name) for name in QUEUES], connection=redis_client()).work(burst=True)

    db.session.remove()
    for store in db.session.scalars(select(Store)):
        assert store.import_state == ImportState.DONE, store.last_error
        assert db.session.scalar(select(func.count(Order.id)).where(Order.store_id == store.id)) > 0
    assert db.session.scalar(select(func.count(SyncRun.id)).where(SyncRun.state != RunState.SUCCEEDED)) == 0


def _store(stores: list[Store], platform: str) -> Store:
    return next(s for s in stores if s.platform == platform)


# --- `make run` end to end ------------------------------------------------------------------

BANNER = re.compile(r"Sign in at (http://127\.0\.0\.1:\d+/) as (\S+) / (\S+)")


def test_R_CON_6_make_run_shows_imported_orders_of_every_demo_store_within_a_minute(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(PORT=str(port), INSTANCE_PATH=str(tmp_path / "instance"),
               REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing there: it starts its own
    launcher = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    started, lines = time.monotonic(), queue_module.Queue()
    # Keep reading: a launcher whose pipe is full would stall its children's output.
    threading.Thread(target=lambda: [lines.put(line) for line in launcher.stdout], daemon=True).start()
    try:
        url, login, password = _wait_for_banner(lines)
        session = _signed_in(url, login, password)
        counts = _wait_for_imports(tmp_path / "instance" / "orderdock.db", started)
        page = session.get(url + "orders/", timeout=10)
        rows = re.findall(r'href="/orders/\d+"', page.text)
        assert page.status_code == 200 and len(rows) == 25, counts  # a full first page: imports included
        children = descendants(launcher.pid, depth=4)  # launcher -> children -> work horse / gunicorn workers
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=40) == 0, _drain(lines)
        time.sleep(0.3)
        assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == [], "processes left behind"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()


def _wait_for_banner(lines: queue_module.Queue) -> tuple[str, str, str]:
    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue_module.Empty:
            continue
        seen.append(line)
        if match := BANNER.search(line):
            return match.groups()
    pytest.fail("no sign-in banner:\n" + "".join(seen[-60:]))


def _drain(lines: queue_module.Queue) -> str:
    text = []
    while not lines.empty():
        text.append(lines.get())
    return "".join(text[-80:])


def _signed_in(url: str, login: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(url + "login", data={"login": login, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302, "the printed demo login does not work"
    return session


def _wait_for_imports(database: Path, started: float) -> dict[str, int]:
    """Orders per demo store, once every store has some; fails after a minute from the start."""
    counts: dict[str, int] = {}
    while time.monotonic() - started < 60:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            counts = dict(conn.execute("SELECT s.name, COUNT(o.id) FROM stores s LEFT JOIN orders o "
                                       "ON o.store_id = s.id GROUP BY s.name").fetchall())
        if len(counts) == 3 and all(counts.values()):
            return counts
        time.sleep(0.5)
    pytest.fail(f"not every demo store had imported orders a minute after `make run`: {counts}")
