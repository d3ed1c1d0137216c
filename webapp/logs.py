"""Structured logs: every line says which job, store and run it belongs to.

A job binds what it works on (``bound(store=3, run=17)``) and every line logged meanwhile, by
our code, by RQ or by a library, carries those fields: ``store=3 run=17`` in the text format,
``"store": 3, "run": 17`` in JSON lines (LOG_FORMAT=json, for a log collector). The fields
live in a context variable, so threads and jobs never mix them up.
"""
from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

FIELDS = ("job", "store", "run", "order")
TEXT = "%(asctime)s %(levelname)s %(name)s%(context)s %(message)s"
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("orderdock_log_context", default={})


@contextmanager
def bound(**fields) -> Iterator[None]:
    """Within the block, every log line carries these fields (None leaves a field out)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record: as attributes (JSON) and as ``context`` (text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        for name in FIELDS:
            setattr(record, name, fields.get(name))
        record.context = "".join(f" {name}={fields[name]}" for name in FIELDS if name in fields)
        return True


def formatter(log_format: str | None = None) -> logging.Formatter:
    """LOG_FORMAT "json": one JSON object per line; otherwise readable text."""
    if (log_format or os.environ.get("LOG_FORMAT", "text")).strip().lower() == "json":
        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"},
                             reserved_attrs=[*RESERVED_ATTRS, "context"], json_default=str)
    return logging.Formatter(TEXT)


def prepare(handler: logging.Handler, log_format: str | None = None) -> logging.Handler:
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(log_format))
    return handler


def configure(level: int = logging.INFO) -> None:
    """The background processes' logging: everything at ``level`` and above on stderr, unless
    the root logger has handlers already (`make run`'s launcher splits the levels itself)."""
    root = logging.getLogger()
    if not root.handlers:
        root.setLevel(level)
        root.addHandler(prepare(logging.StreamHandler(sys.stderr)))
