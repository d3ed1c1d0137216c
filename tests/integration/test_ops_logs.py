"""Issue 15, "Operating it": structured logs, the store and run ids on every line of a sync, in
the text format and as JSON lines (LOG_FORMAT=json), from a real import on a simulator run by a
real RQ worker."""
from __future__ import annotations

import json
import logging

import pytest

from tests.integration.test_sync_jobs import connect_store, fresh, work
from tests.support.simulators import serving
from webapp import logs
from webapp.extensions import db
from webapp.models import RunState, SyncRun
from webapp.sync.enqueue import enqueue_initial_import


class Kept(logging.Handler):
    """Keeps each record and its formatted line."""

    def __init__(self, log_format: str) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[logging.LogRecord, str]] = []
        logs.prepare(self, log_format)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record, self.format(record)))


@pytest.fixture
def kept(request):
    root, handler = logging.getLogger(), Kept(request.param)
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def sync_lines(kept: Kept) -> list[tuple[logging.LogRecord, str]]:
    """The lines the sync's thread logged from the run's start to its end (the simulator, a
    thread of this test process, logs its own lines meanwhile)."""
    lines = kept.records
    first = next(i for i, (r, _) in enumerate(lines) if r.getMessage().endswith("run started"))
    last = next(i for i, (r, _) in enumerate(lines) if r.getMessage().startswith("run succeeded"))
    return [line for line in lines[first:last + 1] if line[0].thread == lines[first][0].thread]


@pytest.mark.parametrize("kept", ["text"], indirect=True)
def test_ops_every_line_of_a_sync_names_its_job_store_and_run(office, redis, kept):
    with serving("woocommerce", orders=120) as sim:
        store = connect_store("woocommerce", sim)
        store_id, run_id = store.id, enqueue_initial_import(store).id
        work()
    assert fresh(SyncRun, run_id).state == RunState.SUCCEEDED
    lines = sync_lines(kept)
    assert len(lines) >= 3 and lines[-1][0].getMessage().startswith("run succeeded: ")
    for record, text in lines:
        assert (record.job, record.store, record.run) == (f"initial-{store_id}", store_id, run_id), text
        assert f" job=initial-{store_id} store={store_id} run={run_id} " in text


@pytest.mark.parametrize("kept", ["json"], indirect=True)
def test_ops_a_failed_sync_logs_json_lines_with_its_store_and_run(office, redis, kept):
    """LOG_FORMAT=json: one JSON object per line, with ``store`` and ``run`` as fields; a sync
    the shop refuses (wrong password, 401) says so on a line that names them."""
    with serving("cartum", orders=10) as sim:
        store = connect_store("cartum", sim)
        store.credentials = {"login": "manager", "password": "not-the-password"}
        db.session.commit()
        store_id, run_id = store.id, enqueue_initial_import(store).id
        work()
    assert fresh(SyncRun, run_id).state == RunState.FAILED
    failed = [json.loads(text) for record, text in kept.records if record.levelno >= logging.WARNING
              and record.name.startswith("webapp")]
    assert failed and all(line["store"] == store_id and line["run"] == run_id for line in failed)
    assert any("failed" in line["message"] for line in failed)
    assert all("not-the-password" not in text for _, text in kept.records)
