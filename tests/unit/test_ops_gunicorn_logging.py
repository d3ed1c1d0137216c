"""Issue 15: gunicorn's logs never show a webhook token (webapp/gunicorn_logging.py), called the
way gunicorn calls its logger; and TRUSTED_PROXIES is read as a count of proxies.
(tests/integration/test_ops_production.py starts a real gunicorn for the access log.)"""
from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from webapp import config
from webapp.gunicorn_logging import HookTokenLogger, MaskHookTokens, mask_hook_tokens

TOKEN = "Zq3xW9-secret_T0ken"


@pytest.fixture
def logger(tmp_path):
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("accesslog", str(tmp_path / "access.log"))
    made = HookTokenLogger(cfg)
    yield made
    for log in (made.error_log, made.access_log):  # gunicorn's loggers are global: leave them clean
        for handler in list(log.handlers):
            handler.close()
            log.removeHandler(handler)
        for found in list(log.filters):
            log.removeFilter(found)


def read(logger, name: str) -> str:
    for handler in logging.getLogger(f"gunicorn.{name}").handlers:
        handler.flush()
    return open(logger.cfg.errorlog if name == "error" else logger.cfg.accesslog).read()


def test_ops_a_failed_hook_request_reported_in_gunicorns_error_log_has_its_token_masked(logger):
    """gunicorn/workers/base.py reports a request that raised with its URI: the line and its
    traceback are written, the token is not."""
    try:
        raise RuntimeError("the app failed")
    except RuntimeError:
        logger.exception("Error handling request %s", f"/hooks/{TOKEN}/cartum")
    text = read(logger, "error")
    assert "Error handling request /hooks/[token]/cartum" in text and "RuntimeError" in text, text
    assert TOKEN not in text


def test_ops_gunicorns_access_call_logs_a_hook_request_with_its_token_masked(logger):
    """Logger.access(resp, req, environ, request_time), as a worker calls it after a response."""
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/hooks/{TOKEN}/cartum", "PATH_INFO": f"/hooks/{TOKEN}/cartum",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.5", "QUERY_STRING": "",
               "HTTP_REFERER": f"https://crm.example.com/hooks/{TOKEN}/cartum"}
    resp = SimpleNamespace(status="401 UNAUTHORIZED", headers=[("Content-Length", "8")], sent=8)
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    logger.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(U)s %(f)s {referer}i {raw_uri}e')
    logger.access(resp, req, environ, datetime.timedelta(milliseconds=12))
    text = read(logger, "access")
    assert '203.0.113.5 "POST /hooks/[token]/cartum HTTP/1.1" 401 /hooks/[token]/cartum' in text, text
    assert TOKEN not in text


def test_ops_a_configuration_reload_keeps_one_masking_filter(logger):
    """SIGHUP runs setup() again: the filter is not stacked."""
    logger.setup(logger.cfg)
    for log in (logger.error_log, logger.access_log):
        assert sum(isinstance(found, MaskHookTokens) for found in log.filters) == 1


@pytest.mark.parametrize("text, masked", [
    (f"POST /hooks/{TOKEN}/cartum HTTP/1.1", "POST /hooks/[token]/cartum HTTP/1.1"),
    (f"/HOOKS%2f{TOKEN}%2Fshopify", "/HOOKS%2f[token]"),
    (f"/login?next=%2Fhooks%2F{TOKEN}%2Fcartum", "/login?next=%2Fhooks%2F[token]"),
    (f"//hooks//{TOKEN}/woocommerce?x=1", "//hooks//[token]/woocommerce?x=1"),
    ("GET /orders/hooks HTTP/1.1", "GET /orders/hooks HTTP/1.1"),
])
def test_ops_every_spelling_of_a_hook_address_is_masked(text, masked):
    """Each spelling that still reaches the webhook view (WSGI decodes %2F) loses its token; a
    path that only contains the word keeps everything."""
    assert mask_hook_tokens(text) == masked


def test_ops_trusted_proxies_is_a_count_defaulting_to_none(monkeypatch, tmp_path):
    """Unset: 0 (no forwarded header believed); a number is taken; anything else says what to write."""
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["TRUSTED_PROXIES"] == 0
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    assert config.load({"INSTANCE_PATH": str(tmp_path)})["TRUSTED_PROXIES"] == 1
    monkeypatch.setenv("TRUSTED_PROXIES", "yes")
    with pytest.raises(config.ConfigError, match="TRUSTED_PROXIES must be the number of proxies"):
        config.load({"INSTANCE_PATH": str(tmp_path)})
