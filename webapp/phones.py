"""Phone numbers: kept as typed, compared in E.164 (libphonenumber via `phonenumbers`), and the
countries a number written without its country code is read in (R-CLI-5), named by `pycountry`."""
from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache

import phonenumbers
import pycountry


def to_e164(raw: str | None, region: str | Iterable[str | None]) -> str | None:
    """``+380 67 123-45-67`` and ``380671234567`` both give ``+380671234567``; None if unreadable.

    ``region`` is one country (ISO 3166 alpha-2) or several in order of preference (R-CLI-5: the
    buyer's, the store's, then ``PHONE_REGION``); blanks and codes that are no phone region are
    skipped. A number without ``+`` is read in each country in turn; when the digits are long
    enough to carry a country code, it is also read as international, after them. The first
    valid reading wins, else the first merely possible one: a national number that is not a
    valid one in the buyer's country (a buyer abroad who typed a number from home) is read in
    the next country that reads it as valid.
    """
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 6:
        return None
    regions = reading_regions(region) if isinstance(region, str) else reading_regions(*region)
    return _e164(text, digits, regions)


@lru_cache(maxsize=8192)
def _e164(text: str, digits: str, regions: tuple[str, ...]) -> str | None:
    """``to_e164``'s reading; an import meets the same buyers' phones again and again."""
    candidates = [_parse(text, country) for country in regions or ("ZZ",)]
    if not text.startswith(("+", "00")) and len(digits) > 10:
        candidates.append(_parse("+" + digits, "ZZ"))
    numbers = [number for number in candidates if number is not None]
    for check in (phonenumbers.is_valid_number, phonenumbers.is_possible_number):
        for number in numbers:
            if check(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _parse(text: str, region: str):
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def reading_regions(*countries: str | None) -> tuple[str, ...]:
    """The countries a national number is read in, in the order given, each once: upper-cased
    ISO 3166 alpha-2 codes that libphonenumber knows; "", None and anything else are left out."""
    found = (clean_country(country) for country in countries)
    return tuple(dict.fromkeys(country for country in found if country))


def clean_country(value: object) -> str:
    """An ISO 3166 alpha-2 code a phone can be read in ("ua" -> "UA"); "" for anything else."""
    code = str(value or "").strip().upper()
    return code if is_phone_country(code) else ""


def is_phone_country(code: str) -> bool:
    return code in phonenumbers.SUPPORTED_REGIONS


@cache
def country_choices() -> tuple[tuple[str, str], ...]:
    """(code, name) of every country a phone can be read in, by name, for the store's setting.

    Names are ISO 3166's short ones (``common_name`` where it has one: "Bolivia", not
    "Bolivia, Plurinational State of"). libphonenumber's regions that ISO 3166 does not list
    (Ascension, Tristan da Cunha, Kosovo) are not offered."""
    pairs = [(code, _name(code)) for code in phonenumbers.SUPPORTED_REGIONS]
    return tuple(sorted(((code, name) for code, name in pairs if name), key=lambda pair: pair[1].casefold()))


def country_name(code: str | None) -> str:
    """"Ukraine" for "UA"; the code itself when unknown; "" for none."""
    if not code:
        return ""
    return _name(code) or code


def _name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return ""
    return getattr(country, "common_name", None) or country.name


def shown(e164: str | None, raw: str | None) -> str:
    """A client's phone for people: ``+380 67 123 4567`` however it was typed; as typed when
    it could not be read."""
    if e164:
        number = _parse(e164, "ZZ")
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return (raw or "").strip()


PHONE_PUNCTUATION = set(" +-()./")


def search_digits(text: str) -> str | None:
    """The digits of a search text written like (part of) a phone number, else None.

    Leading zeros are dropped: a trunk prefix (``030 …``) is not part of the E.164 form."""
    if not text or any(not (ch.isdigit() or ch in PHONE_PUNCTUATION) for ch in text):
        return None
    digits = "".join(ch for ch in text if ch.isdigit()).lstrip("0")
    return digits if len(digits) >= 4 else None
