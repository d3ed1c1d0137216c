"""Issue 15 (retention): how long the sync log, finished runs and webhook delivery keys are kept
comes from the environment, in whole days of at least one, with a clear error otherwise."""
import pytest

from webapp import config

SETTINGS = {"RETAIN_SYNC_LOG_DAYS": 90, "RETAIN_RUNS_DAYS": 90, "RETAIN_WEBHOOK_DELIVERIES_DAYS": 7}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "CURRENCY", "TIMEZONE", "REDIS_URL", "INSTANCE_PATH", *SETTINGS):
        monkeypatch.delenv(name, raising=False)


def test_ops_retention_defaults(tmp_path):
    """Unset, the log and the runs are kept 90 days and the delivery keys a week."""
    loaded = config.load({"INSTANCE_PATH": str(tmp_path)})
    assert {name: loaded[name] for name in SETTINGS} == SETTINGS


@pytest.mark.parametrize("name", list(SETTINGS))
def test_ops_retention_ages_come_from_the_environment(tmp_path, monkeypatch, name):
    """Each setting is read as a whole number of days; 1 is the least."""
    monkeypatch.setenv(name, " 1 ")
    assert config.load({"INSTANCE_PATH": str(tmp_path)})[name] == 1
    monkeypatch.setenv(name, "365")
    assert config.load({"INSTANCE_PATH": str(tmp_path)})[name] == 365


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("value", ["0", "-3", "1.5", "90d", "", "ninety"])
def test_ops_retention_rejects_ages_that_are_not_whole_days(tmp_path, monkeypatch, name, value):
    """Zero, negative, fractional or empty ages stop the start with a message naming the setting."""
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=f"{name} must be a whole number of days, 1 or more"):
        config.load({"INSTANCE_PATH": str(tmp_path)})
