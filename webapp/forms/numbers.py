"""Number fields that take only what their column can keep (R-SEC-5).

WTForms' DecimalField reads "Infinity", "NaN" and "1e30" as valid numbers: a NaN then made the
range check itself raise, 1e30 broke the order total, and 99999999999999999999.99 was stored
as 1e20 in a NUMERIC(12, 2) column (SQLite does not check the precision; PostgreSQL fails).
These fields refuse such values on the form, next to the field, saying what fits.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from wtforms import DecimalField, IntegerField
from wtforms.validators import StopValidation, ValidationError

MONEY_PLACES, MONEY_DIGITS = 2, 12        # models.types.Money = NUMERIC(12, 2)
QUANTITY_PLACES, QUANTITY_DIGITS = 3, 12  # models.types.Quantity = NUMERIC(12, 3)


def column_max(digits: int, places: int) -> Decimal:
    """The largest value a NUMERIC(digits, places) column keeps: 9999999999.99 for (12, 2)."""
    return Decimal(10) ** (digits - places) - Decimal(1).scaleb(-places)


MONEY_MAX = column_max(MONEY_DIGITS, MONEY_PLACES)
QUANTITY_MAX = column_max(QUANTITY_DIGITS, QUANTITY_PLACES)


def spelled(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


class ColumnDecimalField(DecimalField):
    """A finite decimal with at most ``places`` decimal places that fits NUMERIC(digits, places).

    ``noun`` names the value in the messages ("the price")."""

    def __init__(self, label=None, validators=None, places: int = MONEY_PLACES, digits: int = MONEY_DIGITS,
                 noun: str = "the amount", **kwargs):
        super().__init__(label, validators, places=places, **kwargs)
        self.digits, self.noun = digits, noun

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        typed = valuelist[0].strip()
        try:
            number = Decimal(typed)
        except (InvalidOperation, ValueError):
            number = None
        if number is None or not number.is_finite():
            self.data = None
            raise ValueError(f"Enter {self.noun} as a number, such as 12.50.")
        self.data = number
        self._check_fits(number)

    def pre_validate(self, form) -> None:
        if self.process_errors:  # one clear message; the range validators would only add noise
            raise StopValidation()

    def _check_fits(self, number: Decimal) -> None:
        largest = column_max(self.digits, self.places)
        if abs(number) > largest:  # first: quantizing a huge number would itself overflow
            self.data = None
            raise ValueError(f"Enter at most {spelled(largest, self.places)} for {self.noun}.")
        if number != number.quantize(Decimal(1).scaleb(-self.places)):
            self.data = None
            raise ValueError(f"Use at most {self.places} decimal places for {self.noun}.")


def MoneyField(label=None, validators=None, noun: str = "the amount", **kwargs) -> ColumnDecimalField:
    """A price or amount: NUMERIC(12, 2)."""
    return ColumnDecimalField(label, validators, places=MONEY_PLACES, digits=MONEY_DIGITS, noun=noun, **kwargs)


def QuantityField(label=None, validators=None, noun: str = "the quantity", **kwargs) -> ColumnDecimalField:
    """A quantity or stock: NUMERIC(12, 3)."""
    return ColumnDecimalField(label, validators, places=QUANTITY_PLACES, digits=QUANTITY_DIGITS, noun=noun,
                              **kwargs)


INTEGER_MAX = 2**31 - 1  # an INTEGER column, 32 bits on PostgreSQL


def integer_in_column(form, field: IntegerField) -> None:
    """A validator for an IntegerField stored in an INTEGER column."""
    if field.data is not None and not -INTEGER_MAX <= field.data <= INTEGER_MAX:
        raise ValidationError(f"Enter a number between -{INTEGER_MAX:,} and {INTEGER_MAX:,}.")
