"""Issue 15 (retention): the hourly prune deletes sync-log entries, finished runs and webhook
delivery keys older than their RETAIN_* days, on the real database (SQLite, and PostgreSQL with
TEST_DATABASE_URL). It never deletes a run a query of the sync still reads: those queries answer
the same after a prune as before. Nothing of ours is mocked.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from rq.cron import CronScheduler
from sqlalchemy import event, func, select

from tests.support import factories
from webapp.extensions import db, redis_client
from webapp.models import (
    FeedEntry, FeedKind, ImportState, LogLevel, RunKind, RunState, Store, SyncLogEntry, SyncRun, WebhookDelivery,
)
from webapp.models.types import utcnow
from webapp.sync import jobs, progress, retention, schedule

NOW = utcnow()


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def store(world) -> Store:
    return factories.add(Store(platform="cartum", name="Old shop", url="https://old.example.com",
                               location=world.main, order_type=world.repair, import_state=ImportState.DONE))


def run(store: Store, kind: RunKind, days: float, state: RunState = RunState.SUCCEEDED) -> int:
    """A run that started ``days`` ago and, unless still queued or running, finished a minute later."""
    start = days_ago(days)
    finished = start + timedelta(minutes=1) if state in retention.FINISHED else None
    row = SyncRun(store_id=store.id, kind=kind, state=state, created_at=start, finished_at=finished,
                  started_at=None if state == RunState.QUEUED else start)
    return factories.add(row).id


def log_line(store: Store, days: float, run_id: int | None = None) -> int:
    row = SyncLogEntry(store_id=store.id, run_id=run_id, level=LogLevel.SKIPPED, reason=f"{days} days old",
                       created_at=days_ago(days))
    return factories.add(row).id


def feed_line(order, run_id: int) -> int:
    return factories.add(FeedEntry(order=order, kind=FeedKind.STATUS, text="Status changed", run_id=run_id)).id


def ids(model) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(model.id)))


def answers(store: Store, current: SyncRun | None) -> tuple:
    """What the sync's queries that read old runs answer: due now?, R-IMP-2's window, the
    running import's start, the store page's run."""
    db.session.expire_all()
    began = jobs._import_began(store.id, current) if current is not None else None
    return (schedule._due(store, NOW), jobs.window_start(store), began, progress.panel(store).run.id)


def test_ops_retention_old_log_entries_and_delivery_keys_go_new_ones_stay(store, redis):
    """With the defaults, log entries past 90 days and delivery keys past 7 go; younger ones stay."""
    old_line, new_line = log_line(store, 91), log_line(store, 89)
    db.session.add_all([WebhookDelivery(store_id=store.id, delivery_key="old", received_at=days_ago(8)),
                        WebhookDelivery(store_id=store.id, delivery_key="new", received_at=days_ago(6))])
    db.session.commit()

    counts = schedule.prune_old_rows()

    assert counts == {"sync_log": 1, "runs": 0, "webhook_deliveries": 1}
    assert ids(SyncLogEntry) == {new_line} and old_line not in ids(SyncLogEntry)
    assert db.session.scalars(select(WebhookDelivery.delivery_key)).all() == ["new"]


def test_ops_retention_keeps_every_run_the_sync_still_reads(store, redis):
    """Old finished runs go, but not a queued or running one, not the newest of each kind, not the
    first initial run to start (R-IMP-2's window), nor the last successful initial run and the
    first one after it (a resumed import's start): every query reading old runs answers the same."""
    first_initial = run(store, RunKind.INITIAL, 400, RunState.FAILED)
    last_done = run(store, RunKind.INITIAL, 300)
    import_began = run(store, RunKind.INITIAL, 200, RunState.FAILED)
    retried = run(store, RunKind.INITIAL, 150, RunState.FAILED)
    stuck_queued = run(store, RunKind.WEBHOOK, 390, RunState.QUEUED)
    stuck_running = run(store, RunKind.MANUAL, 380, RunState.RUNNING)
    old_scheduled, newest_scheduled = run(store, RunKind.SCHEDULED, 120), run(store, RunKind.SCHEDULED, 100)
    old_webhook, newest_webhook = run(store, RunKind.WEBHOOK, 130), run(store, RunKind.WEBHOOK, 110)
    old_manual, newest_manual = run(store, RunKind.MANUAL, 140, RunState.FAILED), run(store, RunKind.MANUAL, 95)
    current = run(store, RunKind.INITIAL, 0.001, RunState.RUNNING)  # the import going on now
    before = answers(store, db.session.get(SyncRun, current))

    assert retention.prune(NOW)["runs"] == 4

    assert ids(SyncRun) == {first_initial, last_done, import_began, stuck_queued, stuck_running,
                            newest_scheduled, newest_webhook, newest_manual, current}
    assert not {retried, old_scheduled, old_webhook, old_manual} & ids(SyncRun)
    assert answers(store, db.session.get(SyncRun, current)) == before
    assert retention.prune(NOW)["runs"] == 0  # nothing more goes at the next hour


def test_ops_retention_stores_answers_stay_for_a_store_that_synced_lately(store, redis):
    """A store whose import ended long ago and syncs every 5 minutes: its old syncs go, its first
    initial run and its latest sync stay, and whether it is due and its window do not change."""
    initial = run(store, RunKind.INITIAL, 200)
    syncs = [run(store, RunKind.SCHEDULED, days) for days in (180, 150, 120, 91, 1)]
    latest = run(store, RunKind.SCHEDULED, 3 / 1440)  # 3 minutes ago: not due yet
    before = answers(store, None)

    assert retention.prune(NOW)["runs"] == 4

    assert ids(SyncRun) == {initial, syncs[-1], latest}
    assert answers(store, None) == before and before[0] is False


def test_ops_retention_keeps_the_last_success_of_a_store_failing_for_months(store, redis):
    """A store whose syncs have failed for 100 days keeps the run that last succeeded, so the
    operations page's last contact with its shop (the newest successful finish) stays the same."""
    run(store, RunKind.INITIAL, 300)
    older_success, last_success = run(store, RunKind.SCHEDULED, 130), run(store, RunKind.SCHEDULED, 120)
    failures = [run(store, RunKind.SCHEDULED, days, RunState.FAILED) for days in (110, 100, 0.01)]

    def last_contact():
        db.session.expire_all()
        return db.session.scalar(select(func.max(SyncRun.finished_at))
                                 .where(SyncRun.store_id == store.id, SyncRun.state == RunState.SUCCEEDED))
    before = last_contact()

    assert retention.prune(NOW)["runs"] == 3

    assert last_success in ids(SyncRun) and not {older_success, *failures[:2]} & ids(SyncRun)
    assert last_contact() == before


def test_ops_retention_feed_and_log_lines_of_a_pruned_run_stay_without_it(store, world, redis):
    """Feed entries and sync-log entries of a pruned run keep existing, with no run (run_id NULL),
    on SQLite (which does not enforce foreign keys here) as on PostgreSQL; those of a kept run keep it."""
    order = factories.order(world.main, world.repair, factories.client())
    pruned, kept = run(store, RunKind.SCHEDULED, 100), run(store, RunKind.SCHEDULED, 99)
    pruned_feed, kept_feed = feed_line(order, pruned), feed_line(order, kept)
    pruned_log, kept_log = log_line(store, 10, pruned), log_line(store, 10, kept)

    assert retention.prune(NOW) == {"sync_log": 0, "runs": 1, "webhook_deliveries": 0}

    db.session.expire_all()
    feed = dict(db.session.execute(select(FeedEntry.id, FeedEntry.run_id)).all())
    lines = dict(db.session.execute(select(SyncLogEntry.id, SyncLogEntry.run_id)).all())
    assert feed == {pruned_feed: None, kept_feed: kept}
    assert lines == {pruned_log: None, kept_log: kept}
    assert ids(SyncRun) == {kept}


def test_ops_retention_ages_come_from_the_settings(app, store, redis):
    """RETAIN_SYNC_LOG_DAYS, RETAIN_RUNS_DAYS and RETAIN_WEBHOOK_DELIVERIES_DAYS set the ages."""
    app.config.update(RETAIN_SYNC_LOG_DAYS=5, RETAIN_RUNS_DAYS=30, RETAIN_WEBHOOK_DELIVERIES_DAYS=2)
    old_line, new_line = log_line(store, 6), log_line(store, 4)
    old_run, new_run, newest = run(store, RunKind.SCHEDULED, 31), run(store, RunKind.SCHEDULED, 29), \
        run(store, RunKind.SCHEDULED, 0.01)
    db.session.add_all([WebhookDelivery(store_id=store.id, delivery_key="old", received_at=days_ago(3)),
                        WebhookDelivery(store_id=store.id, delivery_key="new", received_at=days_ago(1))])
    db.session.commit()

    assert retention.prune(NOW) == {"sync_log": 1, "runs": 1, "webhook_deliveries": 1}

    assert ids(SyncLogEntry) == {new_line} and ids(SyncRun) == {new_run, newest}
    assert old_line not in ids(SyncLogEntry) and old_run not in ids(SyncRun)
    assert db.session.scalars(select(WebhookDelivery.delivery_key)).all() == ["new"]


def test_ops_retention_deletes_in_bounded_batches(store, monkeypatch, redis):
    """A big prune commits every BATCH rows (here 3), so no transaction holds the write lock
    for all of it; every old row still goes, and the newest run stays."""
    monkeypatch.setattr(retention, "BATCH", 3)
    for _ in range(10):
        log_line(store, 100)
    old_runs = [run(store, RunKind.SCHEDULED, 100 - n / 10) for n in range(10)]
    commits = []
    listener = lambda _session: commits.append(1)  # noqa: E731
    event.listen(db.session(), "after_commit", listener)
    try:
        assert retention.prune(NOW) == {"sync_log": 10, "runs": 9, "webhook_deliveries": 0}
    finally:
        event.remove(db.session(), "after_commit", listener)
    assert ids(SyncRun) == {old_runs[-1]} and db.session.scalar(select(func.count(SyncLogEntry.id))) == 0
    assert len(commits) >= 4 + 4  # 10 rows in batches of 3, for the log and for the runs


def test_ops_retention_logs_its_counts_and_is_scheduled_hourly(store, caplog, redis):
    """The prune says what it deleted in one INFO line, and the scheduler runs it every hour on
    the default queue, in place of the old delivery-keys job."""
    log_line(store, 91)
    with caplog.at_level(logging.INFO, logger="webapp.sync.retention"):
        schedule.prune_old_rows()
    [line] = [record.getMessage() for record in caplog.records if record.name == "webapp.sync.retention"]
    assert line == "retention: deleted 1 sync-log entries, 0 sync runs and 0 webhook delivery keys"

    scheduler = CronScheduler(connection=redis_client())
    schedule.register(scheduler)
    jobs_by_name = {job.func_name: job for job in scheduler.get_jobs()}
    prune = jobs_by_name["webapp.sync.schedule.prune_old_rows"]
    assert (prune.interval, prune.queue_name, prune.job_options["ttl"]) == (3600, "default", 3600)
    assert not any("forget_old_deliveries" in name for name in jobs_by_name)
