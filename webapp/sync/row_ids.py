"""Role in ``sync/``: on SQLite, the importer's new rows get their ids before the flush.

SQLAlchemy inserts rows whose ids the database assigns one statement per row on SQLite (its
RETURNING gives no order to match rows by), but rows that carry their ids in one executemany
per table. The importer holds SQLite's write lock for the whole page (``BEGIN IMMEDIATE``), so
no other writer can take an id meanwhile, and each table's next ids are its largest plus one,
the same ids SQLite would have given (no table uses AUTOINCREMENT). PostgreSQL batches the
inserts itself and takes its ids from its sequences: nothing is done there.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session


def number_new_rows(session: Session) -> None:
    """Give every pending row with an integer ``id`` and none yet the next free one of its table."""
    if session.get_bind().dialect.name != "sqlite":
        return
    waiting = defaultdict(list)
    for row in session.new:
        table = inspect(row).mapper.local_table
        if getattr(row, "id", 0) is None and [column.name for column in table.primary_key] == ["id"]:
            waiting[table].append(row)
    for table, rows in waiting.items():
        largest = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        for offset, row in enumerate(rows, start=1):
            row.id = largest + offset
