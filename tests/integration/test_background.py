"""The background side: a real RQ worker runs the scheduler's jobs; migrations match the models."""
import time

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from rq import SimpleWorker

from webapp.extensions import db, redis_client
from webapp.sync import schedule
from webapp.sync.queues import QUEUES, queue


def test_heartbeat_job_runs_on_a_real_worker_and_the_health_check_reports_it(app, client, redis):
    job = queue("default").enqueue(schedule.heartbeat)
    SimpleWorker([queue(name) for name in QUEUES], connection=redis_client()).work(burst=True)
    assert job.get_status() == "finished"
    assert abs(float(redis.get(schedule.HEARTBEAT_KEY)) - time.time()) < 30
    assert client.get("/healthz").get_json()["worker"] == "ok"


def test_health_check_says_when_no_worker_has_run_lately(app, client, redis):
    response = client.get("/healthz")
    assert response.status_code == 200  # the web side works; the operator is told about the worker
    assert response.get_json()["worker"].startswith("no heartbeat")


def test_health_check_fails_when_redis_is_down(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("orderdock_redis", None)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["redis"].startswith("failing")


def test_migrations_match_the_models(app):
    """A model change without its migration fails here, on SQLite and PostgreSQL alike."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
