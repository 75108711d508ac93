"""Rupees with paise, Indian grouping, and what people type."""

from __future__ import annotations

import pytest

from okane_core.errors import InvalidAmount
from okane_web.money import format_decimal, format_inr, group_indian, parse_rupees


@pytest.mark.parametrize(
    ("digits", "grouped"),
    [
        ("0", "0"),
        ("999", "999"),
        ("1000", "1,000"),
        ("123456", "1,23,456"),
        ("1234567", "12,34,567"),
        ("100000000", "10,00,00,000"),
    ],
)
def test_indian_grouping(digits: str, grouped: str) -> None:
    assert group_indian(digits) == grouped


def test_formatting() -> None:
    assert format_inr(12345678) == "₹1,23,456.78"
    assert format_inr(5) == "₹0.05"
    assert format_inr(0) == "₹0.00"
    assert format_inr(100, signed=True) == "+₹1.00"
    assert format_inr(-1_00_000_00, signed=True) == "\u2212₹1,00,000.00"
    assert format_decimal(-25075) == "-250.75"
    assert format_decimal(150000) == "1500.00"


@pytest.mark.parametrize(
    ("typed", "paise"),
    [
        ("500", 50000),
        ("1,250.5", 125050),
        ("₹ 99.99", 9999),
        ("1,23,456.78", 12345678),
        ("123,456", 12345600),
        ("0.01", 1),
        (".5", 50),
        (" 12. ", 1200),
    ],
)
def test_parsing(typed: str, paise: int) -> None:
    assert parse_rupees(typed) == paise


@pytest.mark.parametrize(
    "typed", ["", "abc", "0", "0.00", "-5", "1.234", "12,34", "1,2,3", "1e3", "5" * 30, "१००"]
)
def test_parsing_refuses_what_is_not_plainly_an_amount(typed: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_rupees(typed)
