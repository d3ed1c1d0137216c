"""Phone numbers: kept as typed, compared in E.164 (libphonenumber via `phonenumbers`)."""
from __future__ import annotations

import phonenumbers


def to_e164(raw: str | None, region: str) -> str | None:
    """``+380 67 123-45-67`` and ``380671234567`` both give ``+380671234567``; None if unreadable.

    A number without ``+`` is read in ``region`` first; when that gives no valid number and the
    digits are long enough to carry a country code, it is read as international. A valid reading
    beats one that is merely possible.
    """
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 6:
        return None
    candidates = [_parse(text, region)]
    if not text.startswith(("+", "00")) and len(digits) > 10:
        candidates.append(_parse("+" + digits, region))
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
