"""The pure ledger rules, without a database."""

from __future__ import annotations

import pytest

from okane_core.errors import AmountOverLimit, InvalidAmount
from okane_core.ledger.domain import (
    MAX_BIGINT,
    BalanceChange,
    IllegalTransition,
    Posting,
    Status,
    UnbalancedPostings,
    balance_changes,
    can_cover,
    check_balanced,
    check_transition,
    reversal_postings,
    transfer_postings,
    validate_amount,
    within_daily_limit,
)


@pytest.mark.parametrize("amount", [1, 500, 10_000])
def test_valid_amounts_pass(amount: int) -> None:
    assert validate_amount(amount, maximum=10_000) == amount


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (0, InvalidAmount),
        (-1, InvalidAmount),
        (10_001, AmountOverLimit),
        (MAX_BIGINT + 1, AmountOverLimit),
        (1.5, InvalidAmount),
        (True, InvalidAmount),
        ("100", InvalidAmount),
    ],
)
def test_invalid_amounts_are_refused_with_the_field(amount: object, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        validate_amount(amount, maximum=10_000)  # type: ignore[arg-type]
    assert raised.value.field == "amount"  # type: ignore[attr-defined]


def test_transfer_postings_sum_to_zero() -> None:
    postings = transfer_postings(1, 2, 250)
    assert postings == [Posting(1, -250), Posting(2, 250)]
    check_balanced(postings)


def test_transfer_to_the_same_account_is_refused() -> None:
    with pytest.raises(UnbalancedPostings):
        transfer_postings(3, 3, 10)


@pytest.mark.parametrize(
    "postings",
    [
        [Posting(1, -10), Posting(2, 9)],
        [Posting(1, 0), Posting(2, 0)],
        [Posting(1, 0)],
        [],
    ],
)
def test_unbalanced_postings_are_refused(postings: list[Posting]) -> None:
    with pytest.raises(UnbalancedPostings):
        check_balanced(postings)


def test_reversal_mirrors_the_original() -> None:
    original = transfer_postings(1, 2, 700)
    undo = reversal_postings(original)
    assert undo == [Posting(1, 700), Posting(2, -700)]
    assert sum(p.amount for p in [*original, *undo]) == 0


def test_postings_land_in_available() -> None:
    assert balance_changes(transfer_postings(1, 2, 5)) == [
        BalanceChange(1, available=-5),
        BalanceChange(2, available=5),
    ]


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (Status.PROCESSING, Status.SUCCESS, True),
        (Status.PROCESSING, Status.FAILURE, True),
        (Status.SUCCESS, Status.FAILURE, False),
        (Status.FAILURE, Status.SUCCESS, False),
        (Status.SUCCESS, Status.SUCCESS, False),
        (Status.PROCESSING, Status.PROCESSING, False),
    ],
)
def test_status_transitions(current: Status, new: Status, allowed: bool) -> None:
    if allowed:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)


def test_cover_and_daily_limit_boundaries() -> None:
    assert can_cover(100, 100)
    assert not can_cover(99, 100)
    assert within_daily_limit(900, 100, 1000)
    assert not within_daily_limit(901, 100, 1000)
