"""Money parsing and rounding.

Tripleseat sends amounts as JSON numbers or numeric strings, and Revel returns
some as 6-decimal strings. Every amount goes through `to_decimal`, never float
arithmetic. The one rounding rule is ROUND_HALF_UP to cents, the rule US
invoices use; `to_cents` applies it.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value, *, field: str = "amount") -> Decimal:
    """Parse a JSON number, numeric string or None (as zero) into a Decimal.

    Raises ValueError naming the field when the value is not a number.
    """
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number, got {value!r}")
    if isinstance(value, Decimal):
        return value
    try:
        # str() first so a float such as 0.1 keeps its short repr, not its binary expansion.
        parsed = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if not parsed.is_finite():
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    return parsed


def to_cents(value) -> Decimal:
    """Round an amount to cents with ROUND_HALF_UP."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def cents_between(first: Decimal, second: Decimal) -> int:
    """Return first minus second as a whole number of cents."""
    return int(((first - second) / CENT).to_integral_value(rounding=ROUND_HALF_UP))


def format_money(value: Decimal) -> str:
    """Format an amount with two decimals, as Revel and the reports show it."""
    return f"{to_cents(value):.2f}"


def format_price(value: Decimal) -> str:
    """Format a unit price: two decimals when it is whole cents, else every decimal it has."""
    value = to_decimal(value)
    if value == to_cents(value):
        return format_money(value)
    return format(value.normalize(), "f")
