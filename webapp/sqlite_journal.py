"""SQLite in write-ahead-log mode: the orders page reads while an import writes.

In SQLite's default (rollback journal) mode a page of an import, written in one transaction
(``BEGIN IMMEDIATE``), keeps every reader out while it commits, so an employee's page waits for
the worker (issue 13: the orders page's p95 while an import runs). In WAL mode readers never
wait for a writer and a writer never waits for readers; writers still take turns, as before
(``DATABASE_BUSY_TIMEOUT``). The mode is stored in the database file, so setting it on every
new connection costs nothing once it holds. A database that cannot take it (in memory, a
read-only file) keeps its mode.

A backup of a WAL database is ``sqlite3 orderdock.db ".backup copy.db"`` (or a copy of the
``-wal`` file with the database): the newest transactions may sit in ``orderdock.db-wal``.
"""
from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _write_ahead_log(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    try:
        dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchone()
    except sqlite3.OperationalError:
        # Another connection holds the file (switching modes needs it alone): that connection,
        # or the next one opened, switches it; reading and writing work in either mode.
        pass
