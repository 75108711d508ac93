"""Money as people read and type it: rupees with paise, Indian digit grouping (₹1,23,456.78).

Amounts stay integer paise everywhere else; these two functions are the only translation
between paise and text, so a page can never show or accept anything else.
"""

from __future__ import annotations

import re

from okane_core.errors import InvalidAmount

RUPEE_SIGN = "₹"
MINUS_SIGN = "\u2212"  # a real minus sign: screen readers say "minus", and it lines up with +

# Plain digits, or digits grouped the Indian (1,23,456) or Western (123,456) way, then up to
# two decimals. Anything else ("12,34" typed as a decimal comma) is refused, never guessed.
_AMOUNT = re.compile(
    r"^(?P<rupees>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3})?"
    r"(?:\.(?P<paise>[0-9]{0,2}))?$"
)


def group_indian(digits: str) -> str:
    """1234567 -> 12,34,567: the last three digits, then groups of two."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def format_inr(paise: int, *, signed: bool = False) -> str:
    """``12345678`` -> ``₹1,23,456.78``; with ``signed``, credits get + and debits a minus."""
    rupees, rest = divmod(abs(paise), 100)
    text = f"{RUPEE_SIGN}{group_indian(str(rupees))}.{rest:02d}"
    if paise < 0:
        return MINUS_SIGN + text
    if signed and paise > 0:
        return "+" + text
    return text


def format_decimal(paise: int) -> str:
    """``-12345678`` -> ``-123456.78``: for machines (CSV), no grouping and no symbol."""
    rupees, rest = divmod(abs(paise), 100)
    return f"{'-' if paise < 0 else ''}{rupees}.{rest:02d}"


def parse_rupees(text: str, *, field: str = "amount") -> int:
    """What a person typed in rupees (``500``, ``1,250.5``, ``₹ 99.99``) as paise.

    Refuses anything that is not a positive amount with at most two decimals; the ledger
    checks the limits.
    """
    compact = text.strip().removeprefix(RUPEE_SIGN).strip().replace(" ", "")
    match = _AMOUNT.match(compact) if 0 < len(compact) <= 24 else None
    if match is None or not (match["rupees"] or match["paise"]):
        raise InvalidAmount("enter an amount in rupees, like 500 or 1,250.50", field=field)
    rupees = int((match["rupees"] or "0").replace(",", ""))
    paise = int((match["paise"] or "").ljust(2, "0"))
    amount = rupees * 100 + paise
    if amount <= 0:
        raise InvalidAmount("the amount must be more than ₹0.00", field=field)
    return amount
