"""Every setting from the environment, with a safe default.

Nothing secret is a constant in code: when SECRET_KEY is unset, a random key is
generated once into ``instance/secret_key`` and reused on every start.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"


class ConfigError(RuntimeError):
    """A setting has a value the product cannot run with; the message says which and why."""


def _secret_key(instance: Path) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ConfigError(f"CURRENCY must be a three-letter ISO 4217 code such as EUR, not {value!r}.")
    return code


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE must be an IANA zone such as Europe/Kyiv, not {value!r}.") from None
    return value


def _minutes(name: str, value: str) -> int:
    if not value.strip().isdigit() or int(value) < 5:
        raise ConfigError(f"{name} must be a whole number of minutes, 5 or more (a sync runs every 5), not {value!r}.")
    return int(value)


def _days(name: str, value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of days, 1 or more, not {value!r}.")
    return int(value)


def _proxies(value: str) -> int:
    if not value.strip().isdigit():
        raise ConfigError(f"TRUSTED_PROXIES must be the number of proxies in front of Orderdock (nginx: 1; "
                          f"none: 0), not {value!r}.")
    return int(value)


def _rate_limit(name: str, value: str) -> None:
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be limits such as '10 per minute;30 per hour', not {value!r}.") from None


def load(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment, then apply ``overrides`` (tests)."""
    overrides = dict(overrides or {})
    instance = Path(overrides.pop("INSTANCE_PATH", os.environ.get("INSTANCE_PATH", DEFAULT_INSTANCE)))
    env = os.environ.get
    config = {
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL") or f"sqlite:///{instance / 'orderdock.db'}",
        "REDIS_URL": env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CURRENCY": _currency(env("CURRENCY", "EUR")),
        "TIMEZONE": _timezone(env("TIMEZONE", "Europe/Berlin")),
        # Region used to read phone numbers typed without a country code (ISO 3166 alpha-2).
        "PHONE_REGION": env("PHONE_REGION", "DE").upper(),
        "ORDERS_PER_PAGE": int(env("ORDERS_PER_PAGE", "25")),
        # Minutes within which a Cartum sync re-reads each open order (it cannot list changed ones),
        # as long as they fit its bounded requests (README, "What a sync asks the shop").
        "CARTUM_REREAD_MINUTES": _minutes("CARTUM_REREAD_MINUTES", env("CARTUM_REREAD_MINUTES", "30")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env("SESSION_COOKIE_SECURE", "0") == "1",
        # R-SEC-3: failed sign-ins allowed per login and per address, in Flask-Limiter's notation.
        "SIGN_IN_LIMIT_PER_LOGIN": env("SIGN_IN_LIMIT_PER_LOGIN", "10 per minute;30 per hour"),
        "SIGN_IN_LIMIT_PER_ADDRESS": env("SIGN_IN_LIMIT_PER_ADDRESS", "30 per minute;300 per hour"),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        # Seconds a SQLite writer waits for another's lock before "database is locked".
        "DATABASE_BUSY_TIMEOUT": float(env("DATABASE_BUSY_TIMEOUT", "5")),
        # R-SEC-1: shops on loopback and private addresses, and Cartum/Shopify over plain http,
        # only for the demo's and the tests' simulators (webapp/platforms/addresses.py).
        "ALLOW_PRIVATE_SHOP_ADDRESSES": env("ALLOW_PRIVATE_SHOP_ADDRESSES", "0").strip() == "1",
        # R-SEC-6: keys of the stored shop credentials, newest first (webapp/secrets.py); with
        # neither variable set, the key file holds them.
        "ENCRYPTION_KEYS": env("ORDERDOCK_ENCRYPTION_KEYS") or env("ORDERDOCK_ENCRYPTION_KEY") or "",
        "ENCRYPTION_KEY_FILE": env("ORDERDOCK_ENCRYPTION_KEY_FILE") or str(instance / "encryption_key"),
        # R-HOOK-4: the address the shops reach Orderdock at (https://crm.example.com), for their
        # webhooks; unset, updates arrive by polling only. R-HOOK-6: while a store's webhooks
        # work, its poll (the reconciler) runs every WEBHOOK_POLL_MINUTES instead of every 5.
        "PUBLIC_BASE_URL": env("PUBLIC_BASE_URL", ""),
        "WEBHOOK_POLL_MINUTES": _minutes("WEBHOOK_POLL_MINUTES", env("WEBHOOK_POLL_MINUTES", "30")),
        # Issue 15 (webapp/sync/retention.py): days the sync log, finished sync runs and webhook
        # delivery keys are kept. The platforms retry a failed delivery for hours (Shopify 8 times
        # over 4 hours), never for days, so a week of delivery keys still catches every repeat.
        "RETAIN_SYNC_LOG_DAYS": _days("RETAIN_SYNC_LOG_DAYS", env("RETAIN_SYNC_LOG_DAYS", "90")),
        "RETAIN_RUNS_DAYS": _days("RETAIN_RUNS_DAYS", env("RETAIN_RUNS_DAYS", "90")),
        "RETAIN_WEBHOOK_DELIVERIES_DAYS": _days("RETAIN_WEBHOOK_DELIVERIES_DAYS",
                                                env("RETAIN_WEBHOOK_DELIVERIES_DAYS", "7")),
        # Issue 15: proxies in front (nginx: 1) whose X-Forwarded-For and -Proto are believed, so
        # the sign-in limit per address (R-SEC-3) counts clients, not the proxy; 0 believes none.
        "TRUSTED_PROXIES": _proxies(env("TRUSTED_PROXIES", "0")),
    }
    config.update(overrides)
    for flag in ("SECURE", "HTTPONLY", "SAMESITE"):  # R-SEC-2: "keep me signed in" as guarded as the session
        config.setdefault(f"REMEMBER_COOKIE_{flag}", config[f"SESSION_COOKIE_{flag}"])
    for name in ("SIGN_IN_LIMIT_PER_LOGIN", "SIGN_IN_LIMIT_PER_ADDRESS"):
        _rate_limit(name, config[name])
    config["PUBLIC_BASE_URL"] = public_base_url(config["PUBLIC_BASE_URL"])
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = _secret_key(instance)
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                      engine_options(config["SQLALCHEMY_DATABASE_URI"], config["DATABASE_BUSY_TIMEOUT"]))
    return config


def public_base_url(value: str) -> str:
    """R-HOOK-4: PUBLIC_BASE_URL as ``scheme://host[:port][/path]`` without a trailing slash; ""
    when unset. https is required, except for a loopback or private host (a demo, a test)."""
    text = (value or "").strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    example = "https://crm.example.com"
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or "@" in parts.netloc:
        raise ConfigError(f"PUBLIC_BASE_URL must be the address the shops reach Orderdock at, such as "
                          f"{example}, not {value!r}.")
    if parts.scheme == "http" and not _local_host(parts.hostname):
        raise ConfigError(f"PUBLIC_BASE_URL must start with https:// ({example}): shops send webhooks to "
                          "public addresses over https only; http is accepted for loopback and private "
                          "addresses (a demo or a test).")
    return text


def _local_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def engine_options(url: str, busy_timeout: float) -> dict:
    """R-REL-2: a connection PostgreSQL dropped (a restart, a failover) is noticed and replaced
    before use (``pool_pre_ping``) rather than failing the next page; a SQLite writer waits
    ``busy_timeout`` seconds for another writer's lock."""
    options: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": busy_timeout}
    return options


def normalize_database_url(url: str) -> str:
    """Accept the ``postgres://`` and ``postgresql://`` spellings hosts hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
