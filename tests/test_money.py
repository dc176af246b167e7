from decimal import Decimal

import pytest

from tsync.money import cents_between, format_price, to_cents, to_decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("240.0", "240.00"), (240, "240.00"), (0.1, "0.10"), ("2.500000", "2.50"), ("1,250.5", "1250.50"),
     (None, "0.00"), ("", "0.00"), ("0.005", "0.01"), ("-0.005", "-0.01"), ("2.675", "2.68")],
)
def test_to_cents_rounds_half_up(raw, expected):
    assert str(to_cents(raw)) == expected


@pytest.mark.parametrize("raw", ["abc", "NaN", "Infinity", True, "1.2.3"])
def test_to_decimal_rejects_non_numbers(raw):
    with pytest.raises(ValueError, match="amount"):
        to_decimal(raw)


def test_float_keeps_short_form():
    assert to_decimal(0.1) == Decimal("0.1")


def test_cents_between_signed():
    assert cents_between(Decimal("168.76"), Decimal("168.75")) == 1
    assert cents_between(Decimal("10.00"), Decimal("10.03")) == -3


@pytest.mark.parametrize(("price", "text"), [("3.5", "3.50"), ("3.333", "3.333"), ("12", "12.00"), ("0.125", "0.125")])
def test_format_price_keeps_sub_cent(price, text):
    assert format_price(Decimal(price)) == text
