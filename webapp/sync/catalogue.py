"""Role in ``sync/``: what the back office's catalogue already holds, told to the run's adapter
(``platforms.base.Catalogue``) so that a sync asks the shop only for the products it does not
know (issue 13): the adapter has no database, so the question comes to this side.

The answers come through a connection of their own, not the run's session: an adapter may map
a page while another is being written (a page read ahead), in another thread. They see what is
committed; a product made by the page being written is asked for once more at worst, and the
adapter keeps what it read for the rest of the run.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Product, Store
from webapp.platforms.base import RemoteItem
from webapp.sync import matching
from webapp.sync.platform import rules_for

CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's limits on parameters


class StoreCatalogue:
    """``Catalogue`` for one store: its platform's rules and its "Identify products by"."""

    def __init__(self, store: Store) -> None:
        self.rules = rules_for(store)
        self.identify_by = store.identify_by
        self.engine = db.engine  # safe to share between threads, unlike the session

    def known(self, items: Sequence[RemoteItem]) -> list[bool]:
        """For each line: we have the product ``matching`` will find for it (R-PRD-2), or the
        line makes none (``product_key`` None: nothing to read about it)."""
        keys = [matching.product_key(item, self.rules, self.identify_by) for item in items]
        wanted: dict[str, set[str]] = {}
        for key in filter(None, keys):
            wanted.setdefault(key[0], set()).add(key[1])
        have = {(field, value) for field, values in wanted.items() for value in self._existing(field, values)}
        return [key is None or key in have for key in keys]

    def names(self, codes: Collection[str]) -> dict[str, str]:
        """Our products' names by the platform's code (``sku_field``), the oldest product of a code."""
        column = getattr(Product, self.rules.sku_field)
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(codes))):
            query = select(column, Product.name).where(column.in_(chunk)).order_by(Product.id.desc())
            with self.engine.connect() as connection:
                found.update({code: name for code, name in connection.execute(query)})  # the oldest last, so it wins
        return found

    def _existing(self, field: str, values: set[str]) -> set[str]:
        column = getattr(Product, field)
        found: set[str] = set()
        for chunk in _chunks(sorted(values)):
            with self.engine.connect() as connection:
                found.update(connection.scalars(select(column).where(column.in_(chunk)).distinct()))
        return found


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[start:start + CHUNK] for start in range(0, len(values), CHUNK)]
