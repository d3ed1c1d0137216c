"""Settings come from the environment with safe defaults; no secret is a constant in code."""
import pytest

from webapp import config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "CURRENCY", "TIMEZONE", "REDIS_URL", "INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path):
    first = config.load({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    second = config.load({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert config.load({"INSTANCE_PATH": str(tmp_path / "other")})["SECRET_KEY"] != first


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_default_database_is_a_sqlite_file_in_the_instance_folder(tmp_path):
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/orderdock.db"


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_postgres_urls_use_psycopg3(tmp_path, monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_currency_and_timezone_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("CURRENCY", "uah")
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["CURRENCY"] == "UAH"
    monkeypatch.setenv("CURRENCY", "euro")
    with pytest.raises(config.ConfigError, match="three-letter ISO 4217"):
        config.load({"INSTANCE_PATH": str(tmp_path)})
    monkeypatch.setenv("CURRENCY", "EUR")
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(config.ConfigError, match="IANA zone"):
        config.load({"INSTANCE_PATH": str(tmp_path)})
