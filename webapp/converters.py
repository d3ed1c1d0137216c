"""Ids read from requests (R-SEC-5): only ASCII digits, only within the range of our id columns.

Python's ``int()`` and ``str.isdigit`` accept digits of any script ('٣', and '²' passes isdigit
but not int()), and the database driver fails on a number beyond its column (SQLite: more than
64 bits; PostgreSQL: INTEGER is 32 bits). Either became a 500. Here such an id is what it is for
the user: in the path, an address of nothing (404, "There is no such …"); in a query string or
a form, a request our pages never make (400 naming the field).
"""
from __future__ import annotations

from flask import abort, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# Every id column is an INTEGER (32-bit on PostgreSQL); no row can have a larger id.
MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(value: str) -> int | None:
    """The id written in ``value``, or None when it is not one: ASCII digits, 1..MAX_ID."""
    if not value or len(value) > _MAX_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class BoundedIntConverter(IntegerConverter):
    """Flask's ``int`` converter, registered in its place so that every ``<int:…>`` route is
    covered: ASCII digits only, and a number no row can have is a 404 with our message. (Its
    options — fixed_digits, min, max, signed — are not used by any route and not supported.)"""

    def to_python(self, value: str) -> int:
        # The regex's \d takes digits of any script; parse_id takes ASCII ones up to MAX_ID. A 0
        # passes on: no row has it, and the view's own lookup says "no such <noun>".
        number = 0 if value.isascii() and not value.strip("0") else parse_id(value)
        if number is None:
            # Raised, not ValidationError: no other rule of ours would match a run of digits, and
            # the employee gets a page that says what is wrong instead of werkzeug's default.
            raise NotFound(description=(
                f"There is no such page: {value[:30]} is not the number of anything in this back office. "
                "Check the address, or find what you are looking for from its list."))
        return number


def register(app) -> None:
    """Put the bounded converter in place of ``int``; must run before any route is added."""
    app.url_map.converters["int"] = BoundedIntConverter


def refuse_id(name: str, value: str):
    """400: ``value`` given for ``name`` is no id; the message says what to do instead."""
    shown = value if len(value) <= 30 else value[:30] + "…"
    abort(400, description=(
        f"“{name}” must be the number of an existing record, such as 12; “{shown}” is not one. "
        "Reload the page and choose it from the list instead of typing it."))


def arg_id(name: str) -> int | None:
    """An optional id from the query string (a filter, a preset); absent or empty is None."""
    value = request.args.get(name, "").strip()
    if not value:
        return None
    return parse_id(value) or refuse_id(name, value)


def form_id(name: str) -> int | None:
    """An optional id from the posted form (a hidden field)."""
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    return parse_id(value) or refuse_id(name, value)


def form_ids(name: str) -> list[int]:
    """Every id of a repeated form field (ticked rows); one malformed value refuses the lot."""
    values = [value.strip() for value in request.form.getlist(name) if value.strip()]
    return [parse_id(value) or refuse_id(name, value) for value in values]
