"""Phone numbers are kept as typed and compared in E.164 (SPEC R-CLI-2's "normalised form")."""
import pytest

from webapp import phones
from webapp.phones import search_digits, to_e164


@pytest.mark.parametrize("raw,region,expected", [
    ("+380 67 123-45-67", "DE", "+380671234567"),
    ("380671234567", "DE", "+380671234567"),       # international without the plus
    ("(030) 1234567", "DE", "+49301234567"),        # national, read in the back office's region
    ("0049 30 1234567", "DE", "+49301234567"),
    ("067 123 45 67", "UA", "+380671234567"),
    ("+1 (415) 555-2671", "DE", "+14155552671"),
    ("12", "DE", None),
    ("call me", "DE", None),
    ("", "DE", None),
    (None, "DE", None),
])
def test_R_CLI_2_phones_compare_in_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("text,expected", [
    ("030 1234567", "301234567"), ("+380 67", "38067"), ("A00003", None), ("12", None), ("anna", None),
])
def test_search_digits_only_for_phone_like_text(text, expected):
    assert search_digits(text) == expected


@pytest.mark.parametrize(("e164", "raw", "expected"), [
    ("+380671234567", "380671234567", "+380 67 123 4567"),
    ("+4930123456", "030 123456", "+49 30 123456"),
    (None, "ext. 12", "ext. 12"),
    (None, None, ""),
])
def test_phones_are_shown_in_one_international_form(e164, raw, expected):
    assert phones.shown(e164, raw) == expected
