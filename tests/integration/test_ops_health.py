"""Issue 15, "Operating it": /healthz reports the database, Redis, the workers of each queue, the
scheduler's last tick and the oldest queued job's age, from real worker and scheduler processes
on the test's own Redis; a stopped worker and a stalled scheduler show within a minute."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from tests.integration.conftest import sign_in
from tests.integration.test_ops_page import store
from tests.integration.test_sync_jobs import kill_worker, start_worker, wait_until, worker_env
from webapp import create_app
from webapp.extensions import db
from webapp.models import RunKind, RunState, SyncRun
from webapp.models.types import utcnow
from webapp.sync import health
from webapp.sync.progress import WORKER_GRACE
from webapp.sync.queues import QUEUES, queue
from worker import LEADER_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINUTE = 60.0


def start_scheduler(app, log=None) -> subprocess.Popen:
    """`worker.py schedule`; its output into the file ``log`` when given (read with ``said``)."""
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen([sys.executable, "worker.py", "schedule"], cwd=ROOT, env=worker_env(app),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            out.close()


def said(log, words: str) -> bool:
    return words in log.read_text()


def stop(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGCONT)  # a stopped (SIGSTOP) process must run to end
    kill_worker(proc)


def healthz(client) -> dict:
    response = client.get("/healthz")
    report = response.get_json()
    assert response.status_code == (200 if report["status"] == "ok" else 503)
    return report


def test_ops_health_says_what_is_missing_without_a_login(app, client, redis):
    """No worker and no scheduler: the web side answers 503 with one sentence per queue that no
    worker takes and one for the scheduler, each saying what to start; database and Redis ok."""
    report = healthz(client)
    assert report["status"] == "failing" and report["database"] == "ok" and report["redis"] == "ok"
    assert report["scheduler"] == {"state": "not running", "last_tick_seconds_ago": None}
    assert {name for name, q in report["queues"].items() if q["state"] == "no worker"} == set(QUEUES)
    assert len(report["problems"]) == len(QUEUES) + 1
    assert any("python worker.py schedule" in line for line in report["problems"])
    assert any("--queues initial" in line for line in report["problems"])


def test_ops_health_fails_when_redis_is_down(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("orderdock_redis", None)
    report = healthz(client)
    assert report["status"] == "failing" and report["redis"].startswith("failing")
    assert report["problems"] == ["The redis does not answer (ConnectionError)."]


def test_ops_health_tells_the_oldest_queued_jobs_age_and_a_late_queue(app, client, redis, monkeypatch):
    queue("push").enqueue("time.sleep", 0)
    report = healthz(client)
    assert report["queues"]["push"]["queued"] == 1 and report["queues"]["push"]["oldest_queued_seconds"] >= 0
    assert report["queues"]["sync"]["queued"] == 0 and report["queues"]["sync"]["oldest_queued_seconds"] is None
    monkeypatch.setitem(health.LATE, "push", -1)  # any wait is too long: the queue is behind
    monkeypatch.setattr(health, "_workers", lambda now: [{"queues": ["push"]}])
    late = healthz(client)
    assert late["queues"]["push"]["state"] == "late"
    assert any("'push'" in line and "cannot keep up" in line for line in late["problems"])


def test_ops_healthz_reports_a_stopped_worker_and_a_stalled_scheduler_within_a_minute(app, client, redis):
    """Issue 15's "Done when": a worker on every queue (two processes, as `make run` starts them)
    and the scheduler bring /healthz to 200. Then the importer is killed outright (SIGKILL: it
    leaves its registration behind, so only its silence tells) and the scheduler is frozen
    (SIGSTOP: alive, ticking no more). Both show in /healthz within a minute."""
    worker = start_worker(app, "--queues", "default,push,hooks,sync")
    importer = start_worker(app, "--queues", "initial")
    scheduler = start_scheduler(app)
    try:
        wait_until(lambda: healthz(client)["status"] == "ok", 2 * MINUTE, "/healthz to say ok")
        kill_worker(importer)
        os.kill(scheduler.pid, signal.SIGSTOP)
        struck = time.monotonic()
        report = wait_until(
            lambda: (r := healthz(client))["queues"]["initial"]["state"] == "no worker"
            and r["scheduler"]["state"] == "stalled" and r, MINUTE, "the stopped worker and the stalled scheduler")
        seen_in = time.monotonic() - struck
        print(f"\n/healthz saw the killed worker and the frozen scheduler {seen_in:.1f} s after")
        assert seen_in < MINUTE
        assert report["status"] == "failing" and report["queues"]["sync"]["state"] == "ok"
        assert [line for line in report["problems"] if "'initial'" in line or "scheduler" in line] == report["problems"]
        assert len(report["problems"]) == 2
    finally:
        for proc in (worker, importer, scheduler):
            if proc.poll() is None:
                stop(proc)


def test_ops_a_second_scheduler_stands_by_and_takes_over_when_the_first_stops(app, client, redis, tmp_path):
    """Growing past one machine: each may run `worker.py schedule`; one ticks, the other waits
    (it does not tick twice), and takes over as soon as the first one stops."""
    first = start_scheduler(app)
    try:
        wait_until(lambda: redis.get(LEADER_KEY) and healthz(client)["scheduler"]["state"] == "ok", MINUTE,
                   "the first scheduler to tick")
        log = tmp_path / "second.log"
        second = start_scheduler(app, log)
        try:
            wait_until(lambda: said(log, "stands by"), MINUTE, "the second scheduler to stand by")
            assert redis.zcard("rq:cron_schedulers") == 1  # only the leader is registered, so only it ticks
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=30)
            wait_until(lambda: said(log, "ticks now"), MINUTE, "the second scheduler to take over")
            wait_until(lambda: healthz(client)["scheduler"]["state"] == "ok", MINUTE, "ticks from the second one")
        finally:
            stop(second)
    finally:
        if first.poll() is None:
            stop(first)


def test_ops_health_fails_when_the_database_is_down(redis_url, tmp_path):
    """A database that cannot be opened (here a SQLite file in a folder that is not there; on a
    server, PostgreSQL stopped): 503, and the sentence names the database."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/gone/orderdock.db", "REDIS_URL": redis_url,
                      "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    report = healthz(app.test_client())
    assert report["database"].startswith("failing") and report["redis"] == "ok"
    assert report["problems"][0] == "The database does not answer (OperationalError)."


def test_ops_the_store_page_names_the_queue_no_worker_takes(app, client, office, redis):
    """A store's import waiting longer than WORKER_GRACE with no live worker on "initial" (only a
    worker for the other queues runs, as when orderdock-importer@1 was never started): its
    progress panel says which queue and what to start; once an importer runs, it says no more."""
    shop = store(office, "Waiting shop")
    db.session.add(SyncRun(store_id=shop.id, kind=RunKind.INITIAL, state=RunState.QUEUED,
                           created_at=utcnow() - WORKER_GRACE - timedelta(seconds=1)))
    db.session.commit()
    sign_in(client, "admin")
    worker = start_worker(app, "--queues", "default,push,hooks,sync")
    try:
        wait_until(lambda: healthz(client)["queues"]["sync"]["workers"] == 1, MINUTE, "the worker")
        panel = client.get(f"/settings/stores/{shop.id}/progress").get_data(as_text=True)
        assert "No background worker takes initial imports" in panel
        assert "python worker.py work --queues initial" in panel and "orderdock-importer@1" in panel
        importer = start_worker(app, "--queues", "initial")
        try:
            wait_until(lambda: "No background worker" not in client.get(f"/settings/stores/{shop.id}/progress")
                       .get_data(as_text=True), MINUTE, "the importer to be seen")
        finally:
            stop(importer)
    finally:
        stop(worker)
