"""Role in ``sync/``: the importer's new rows get their ids before the flush.

SQLAlchemy inserts rows whose ids the database assigns with RETURNING (one statement per row
on SQLite, whose RETURNING gives no order to match rows by; large multi-row statements on
PostgreSQL, which psycopg parses anew and the server plans anew each time), but rows that
carry their ids in one plain executemany per table (on PostgreSQL, one prepared statement
sent in a pipeline).

SQLite: the importer holds the write lock for the whole page (``BEGIN IMMEDIATE``), so no
other writer can take an id meanwhile, and each table's next ids are its largest plus one,
the same ids SQLite would have given (no table uses AUTOINCREMENT). PostgreSQL: the ids are
taken from the table's own sequence, a page's worth in one statement, as its inserts would
have taken them; other writers go on taking theirs from the same sequence.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Integer, func, inspect, select, text
from sqlalchemy.orm import Session

_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)")


def number_new_rows(session: Session) -> None:
    """Give every pending row with an integer ``id`` and none yet the next free one of its table."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    for table, rows in _waiting(session).items():
        if dialect == "sqlite":
            largest = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
            ids = range(largest + 1, largest + 1 + len(rows))
        else:
            ids = session.execute(_NEXT_IDS, {"table": table.fullname, "count": len(rows)}).scalars().all()
            if None in ids:
                continue  # no sequence of its own: the database numbers its rows at the insert
            ids.sort()
        for row, row_id in zip(rows, ids):  # in the order they were added, as the flush would number them
            row.id = row_id


def _waiting(session: Session) -> dict:
    waiting = defaultdict(list)
    for row in session.new:
        table = inspect(row).mapper.local_table
        key = [column.name for column in table.primary_key]
        if getattr(row, "id", 0) is None and key == ["id"] and isinstance(table.c.id.type, Integer):
            waiting[table].append(row)
    return waiting
