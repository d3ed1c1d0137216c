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


# --- R-CLI-5: the buyer's country, else the store's, else PHONE_REGION -------------------------


@pytest.mark.parametrize("raw", ["050 256 47 78", "0502564778", "(050) 256-47-78", "050-256-47-78",
                                 "+380502564778", "380502564778", "+380 50 256 47 78", "00380502564778"])
def test_R_CLI_5_one_buyer_in_every_format_is_one_number_when_read_in_ukraine(raw):
    """The buyer's country first, PHONE_REGION (DE) last: every format gives the same number."""
    assert to_e164(raw, ("UA", "DE")) == "+380502564778"


@pytest.mark.parametrize("regions,expected", [
    (("FR", "UA", "DE"), "+33502564778"),    # the order's country wins
    (("", "UA", "DE"), "+380502564778"),     # none on the order: the store's
    (("", "", "DE"), "+49502564778"),        # neither: PHONE_REGION
    (("ua", "DE"), "+380502564778"),         # lower case is still Ukraine
    (("XX", "Ukraine", "UA"), "+380502564778"),  # not a phone region: ignored
    (("GB", "UA"), "+380502564778"),         # no valid number in GB: the next country's valid one
])
def test_R_CLI_5_a_national_number_is_read_in_the_first_country_that_reads_it(regions, expected):
    assert to_e164("050 256 47 78", regions) == expected


def test_R_CLI_5_a_number_with_its_country_code_ignores_the_countries():
    for regions in (("FR", "DE"), ("UA",), ("US",), ()):
        assert to_e164("+380 50 256 47 78", regions) == "+380502564778"
        assert to_e164("380502564778", regions) == "+380502564778"


def test_R_CLI_5_reading_regions_keeps_phone_regions_in_order_once():
    assert phones.reading_regions("ua", "", None, "XX", "DE", "UA", " fr ") == ("UA", "DE", "FR")


def test_R_CLI_5_countries_are_offered_by_name():
    choices = phones.country_choices()
    assert ("UA", "Ukraine") in choices and ("DE", "Germany") in choices
    assert [name for _, name in choices] == sorted((name for _, name in choices), key=str.casefold)
    assert all(phones.is_phone_country(code) for code, _ in choices)
    assert phones.country_name("UA") == "Ukraine" and phones.country_name("") == ""
