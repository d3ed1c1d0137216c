"""The shared paging guard (R-REL-2), with pages given as lists: no HTTP, no sleeping."""
from __future__ import annotations

import pytest

from webapp.platforms.base import BadPayload, RepeatedPage
from webapp.platforms.http import HttpSettings
from webapp.platforms.paging import PageGuard, among, within

SETTINGS = HttpSettings(attempts=3, backoff=0.5, max_backoff=2.0)


def rows(*ids, status="open"):
    return [{"id": i, "status": status} for i in ids]


class Served:
    """The shop's answers to one request, in turn; counts how often it was asked."""

    def __init__(self, *answers):
        self.answers, self.asked = list(answers), 0

    def __call__(self):
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


def guard(**options):
    slept = []
    return PageGuard("orders", api="https://shop.example/api/", settings=SETTINGS,
                     sleep=slept.append, **options), slept


def read(page_guard, served, expected=()):
    return page_guard.read(served, lambda page: page, expected)


def test_R_REL_2_a_page_served_again_is_asked_for_again_with_backoff():
    page_guard, slept = guard()
    read(page_guard, Served(rows(1, 2, 3)))
    served = Served(rows(1, 2, 3), rows(4, 5, 6))
    assert read(page_guard, served) == rows(4, 5, 6) and served.asked == 2
    assert len(slept) == 1 and 0.25 <= slept[0] <= 0.5


def test_R_REL_2_a_page_served_again_every_time_is_a_loud_typed_error():
    page_guard, slept = guard()
    read(page_guard, Served(rows(1, 2, 3)))
    served = Served(rows(1, 2, 3))
    with pytest.raises(RepeatedPage) as caught:
        read(page_guard, served)
    assert served.asked == SETTINGS.attempts and len(slept) == SETTINGS.attempts - 1
    assert isinstance(caught.value, BadPayload) and caught.value.retryable
    assert "the same page 3 times" in caught.value.message
    assert "https://shop.example/api/" in caught.value.message and "no order is skipped" in caught.value.message


def test_R_REL_2_an_order_served_again_changed_is_new_not_a_repeat():
    """An order modified during the run moves to the end of a "modified" ordering."""
    page_guard, slept = guard()
    read(page_guard, Served(rows(1, 2, 3)))
    served = Served(rows(1, status="cancelled") + rows(4))
    assert read(page_guard, served) == served.answers[0] and served.asked == 1 and slept == []


def test_R_REL_2_expected_re_serves_are_neither_new_nor_a_fault():
    """WooCommerce's fresh query serves the boundary second's orders again: a last page with
    only those is the end of the run, not a repeat."""
    page_guard, _ = guard()
    read(page_guard, Served(rows(1, 2, 3)))
    served = Served(rows(3))
    assert read(page_guard, served, expected={"3"}) == rows(3) and served.asked == 1


def test_R_REL_2_a_whole_page_of_expected_ids_where_none_are_expected_is_a_repeat():
    page_guard, _ = guard()
    read(page_guard, Served(rows(1, 2, 3)))
    with pytest.raises(RepeatedPage):
        read(page_guard, Served(rows(1, 2, 3)), expected=())


def test_R_REL_2_an_overlap_is_asked_for_again_unless_the_scheme_shifts():
    cursor_guard, _ = guard()
    read(cursor_guard, Served(rows(1, 2, 3)))
    served = Served(rows(3, 4, 5), rows(4, 5, 6))
    assert read(cursor_guard, served) == rows(4, 5, 6) and served.asked == 2
    with pytest.raises(RepeatedPage, match="partly repeats"):
        read(cursor_guard, Served(rows(6, 7)))

    offset_guard, _ = guard(overlap_expected=True)  # Cartum: an order inserted before the offset
    read(offset_guard, Served(rows(1, 2, 3)))
    served = Served(rows(3, 4, 5))
    assert read(offset_guard, served) == rows(3, 4, 5) and served.asked == 1
    with pytest.raises(RepeatedPage):
        read(offset_guard, Served(rows(4, 5)))  # nothing new at all: still a repeat


def test_empty_pages_and_rows_without_an_id_pass():
    page_guard, _ = guard()
    assert read(page_guard, Served([])) == [] and read(page_guard, Served([])) == []
    assert read(page_guard, Served([{"x": 1}, "junk"])) == [{"x": 1}, "junk"]


# --- answers that do not belong to the query (a cache ignoring the query) --------------------


def dated(ident, day):
    return {"id": ident, "day": day}


def from_day(first):
    return within(lambda row: row.get("day"), first)


def test_R_REL_2_a_stray_answer_on_the_first_page_is_asked_for_again():
    """Nothing sent yet in this run, so only ``belongs`` can tell: an earlier query's answer
    (orders from before the filter) is asked for again, and the right page taken."""
    page_guard, slept = guard()
    served = Served([dated(1, 3), dated(2, 9)], [dated(5, 10), dated(6, 11)])
    assert page_guard.read(served, lambda page: page, belongs=from_day(10)) == served.answers[1]
    assert served.asked == 2 and len(slept) == 1


def test_R_REL_2_a_stray_answer_every_time_is_a_loud_typed_error():
    page_guard, _ = guard()
    served = Served([dated(1, 3)])
    with pytest.raises(RepeatedPage) as caught:
        page_guard.read(served, lambda page: page, belongs=among(["7", "8"]))
    message = caught.value.message
    assert served.asked == SETTINGS.attempts and caught.value.retryable
    assert "do not match the request" in message and "3 times in a row" in message
    assert "cache" in message and "nothing is lost" in message and "https://shop.example/api/" in message


def test_R_REL_2_records_on_the_bounds_or_without_a_readable_time_belong():
    belongs = within(lambda row: row.get("day"), 10, 20)
    assert all(map(belongs, [dated(1, 10), dated(2, 20), {"id": 3}, dated(4, None)]))
    assert not belongs(dated(5, 9)) and not belongs(dated(6, 21))

    def unreadable(row):
        raise ValueError("no date")
    assert within(unreadable, 10)({"id": 1})
    assert among([7, " 8 "], "order_id")({"order_id": "8"}) and not among([7])({"id": 8})
