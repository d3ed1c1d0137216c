"""Pages of a long list that count its rows only while there are few (issue 13).

Counting every matching row at each request costs as much as reading the whole list: at
100,000 orders that is most of the page's time. A person on page 1 wants the page, a way to
the next and the previous one, and how many rows match when that is a number they can use.
So a page is read with one row more than it shows (is there a next page?), and the matching
rows are counted only up to COUNT_CAP: past it the page says "1,000+". On the last page
nothing is counted at all: the rows before it and on it are all there are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask import request
from sqlalchemy import Select, func, select

from webapp.extensions import db

COUNT_CAP = 1000
LAST_PAGE = 1_000_000  # a page number past any list; keeps the offset a number the database takes


@dataclass(frozen=True)
class Page:
    items: list
    page: int
    per_page: int
    total: int  # the matching rows, when ``exact``; else more than COUNT_CAP
    exact: bool
    has_next: bool

    @property
    def total_text(self) -> str:
        return f"{self.total:,}" if self.exact else f"{COUNT_CAP:,}+"

    @property
    def pages(self) -> int | None:
        """How many pages there are; None when the rows were not all counted."""
        return max(1, math.ceil(self.total / self.per_page)) if self.exact else None

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def page_number() -> int:
    """The ``page`` argument; 1 when missing or not a number (as Flask-SQLAlchemy's paginate)."""
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), LAST_PAGE)


def read_page(rows: Select, matching: Select, per_page: int, page: int | None = None) -> Page:
    """One page of ``rows`` (ordered, with its loader options); ``matching`` is the same filter
    as a plain select of ids, counted when needed, never past COUNT_CAP + 1 rows."""
    page = page or page_number()
    offset = (page - 1) * per_page
    items = list(db.session.scalars(rows.limit(per_page + 1).offset(offset)))
    has_next = len(items) > per_page
    items = items[:per_page]
    seen = offset + len(items)
    if not has_next and (items or page == 1):
        total, exact = seen, True
    elif seen >= COUNT_CAP:
        total, exact = COUNT_CAP + 1, False
    else:
        limited = matching.order_by(None).limit(COUNT_CAP + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(limited))
        exact = total <= COUNT_CAP
    return Page(items=items, page=page, per_page=per_page, total=total, exact=exact, has_next=has_next)
