"""Pure ledger rules: money, postings and state transitions. No database here.

Amounts are integer paise. A movement of money is a set of postings that sums to zero; a wallet
holds ``available`` (spendable) and ``locked`` (on hold for a pending withdrawal), and the sum of
the two always equals the sum of the wallet's postings.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from okane_core.errors import AmountOverLimit, InvalidAmount, InvalidRequest, OkaneError
from okane_core.text import invisible_characters

# Largest amount a BIGINT column can carry; a guard against overflow long before any cap applies.
MAX_BIGINT = 2**63 - 1


class Kind(enum.StrEnum):
    TOPUP = "topup"
    P2P = "p2p"
    WITHDRAWAL = "withdrawal"
    REVERSAL = "reversal"


class Status(enum.StrEnum):
    PROCESSING = "processing"
    UNKNOWN = "unknown"  # past its deadline without the bank's answer; the bank is being asked
    SUCCESS = "success"
    FAILURE = "failure"


class FailureReason(enum.StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BANK_DECLINED = "bank_declined"
    EXPIRED = "expired"


class AccountKind(enum.StrEnum):
    WALLET = "wallet"
    SYSTEM = "system"


class SystemAccount(enum.StrEnum):
    """Codes of the accounts that belong to OKANE itself."""

    BANK_CLEARING = "bank_clearing"  # the other side of every top-up and withdrawal
    PROMOTIONS = "promotions"  # the source of any welcome credit


class UnbalancedPostings(OkaneError):
    code = "unbalanced_postings"


class IllegalTransition(OkaneError):
    code = "illegal_transition"


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a transaction: ``amount`` paise into an account (out of it when negative)."""

    account_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """How one account row changes: deltas to ``available`` and ``locked``."""

    account_id: int
    available: int = 0
    locked: int = 0


def validate_amount(amount: int, *, maximum: int, field: str = "amount") -> int:
    """Check that ``amount`` is a positive whole number of paise within ``maximum``."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("amount must be an integer number of paise", field=field)
    if amount <= 0:
        raise InvalidAmount("amount must be greater than zero", field=field)
    if amount > min(maximum, MAX_BIGINT):
        raise AmountOverLimit(f"amount must not exceed {maximum} paise", field=field)
    return amount


def whole_paise(value: object) -> object:
    """Accept an integer, or a JSON number with no fractional part (1500.0); refuse booleans,
    strings and fractions of a paisa. Other types are left to the field's own validation."""
    # ValueError, not TypeError: validation frameworks turn only ValueError into a 422.
    if isinstance(value, bool):
        raise ValueError("amount must be a number of paise, not a boolean")  # noqa: TRY004
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("amount must be a whole number of paise")
        return int(value)
    if isinstance(value, str):
        raise ValueError("amount must be a JSON number, not a string")  # noqa: TRY004
    return value


def storable_text(value: object) -> object:
    """Text PostgreSQL can store: valid Unicode (no lone surrogates) without NUL characters."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode") from None
    return value


# The only invisible characters a note may carry: it may have lines and columns.
NOTE_CONTROLS = frozenset("\n\t")


def check_note(note: str | None, *, maximum: int) -> None:
    if note is None:
        return
    if len(note) > maximum:
        raise InvalidRequest(f"note must be at most {maximum} characters", field="note")
    hidden = invisible_characters(note, allowed=NOTE_CONTROLS)
    if hidden:
        raise InvalidRequest(
            "note must not contain control or formatting characters other than newline and "
            f"tab (found {', '.join(hidden)})",
            field="note",
        )


def transfer_postings(debit_account_id: int, credit_account_id: int, amount: int) -> list[Posting]:
    """The two postings that move ``amount`` from one account to another."""
    if debit_account_id == credit_account_id:
        raise UnbalancedPostings("a transfer needs two different accounts")
    if amount <= 0:
        raise InvalidAmount("a posted amount must be positive")
    return [Posting(debit_account_id, -amount), Posting(credit_account_id, amount)]


def check_balanced(postings: Iterable[Posting]) -> None:
    """Raise unless the postings sum to zero and none is empty."""
    total = 0
    count = 0
    for posting in postings:
        if posting.amount == 0:
            raise UnbalancedPostings("a posting must move a non-zero amount")
        total += posting.amount
        count += 1
    if count < 2 or total != 0:
        raise UnbalancedPostings(f"postings must sum to zero, got {total} over {count} lines")


def reversal_postings(original: Iterable[Posting]) -> list[Posting]:
    """The postings that undo ``original`` exactly."""
    lines = [Posting(p.account_id, -p.amount) for p in original]
    check_balanced(lines)
    return lines


def balance_changes(postings: Iterable[Posting]) -> list[BalanceChange]:
    """Each posting lands in ``available``: postings always move spendable money."""
    return [BalanceChange(p.account_id, available=p.amount) for p in postings]


# processing -> success | failure | unknown; unknown -> success | failure (the bank's answer,
# late or inquired); nothing leaves a final state.
_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROCESSING: frozenset({Status.SUCCESS, Status.FAILURE, Status.UNKNOWN}),
    Status.UNKNOWN: frozenset({Status.SUCCESS, Status.FAILURE}),
    Status.SUCCESS: frozenset(),
    Status.FAILURE: frozenset(),
}


def check_transition(current: Status, new: Status) -> None:
    if new not in _TRANSITIONS[current]:
        raise IllegalTransition(f"a {current} transaction cannot become {new}")


def can_cover(available: int, amount: int) -> bool:
    """Whether a wallet with ``available`` paise can send ``amount`` paise."""
    return available >= amount


def within_daily_limit(spent_today: int, amount: int, limit: int) -> bool:
    return spent_today + amount <= limit


class TransferRefusal(enum.StrEnum):
    """Why a transfer is refused outright (nothing is written). Insufficient funds is not a
    refusal: it is a recorded failure."""

    RECIPIENT_NOT_FOUND = "recipient_not_found"
    SELF_TRANSFER = "self_transfer"
    USER_NOT_FOUND = "user_not_found"
    CURRENCY_MISMATCH = "currency_mismatch"
    DAILY_LIMIT_EXCEEDED = "daily_limit_exceeded"


@dataclass(frozen=True, slots=True)
class TransferParty:
    """What a transfer's decision needs to know of one wallet, read under its lock."""

    user_id: object
    available: int
    currency: str
    spent_today: int = 0  # outgoing today (pending and successful), for the daily limit


def decide_transfer(  # noqa: PLR0911 - one return per rule, in the order the rules apply
    payer: TransferParty | None, payee: TransferParty | None, amount: int, *, daily_limit: int
) -> TransferRefusal | Status:
    """The specification of one transfer's outcome, in the order the checks apply: a refusal,
    or the status of the transaction it records (``success``, or ``failure`` for insufficient
    funds). ``okane_transfers_v3`` applies exactly these rules in the database."""
    if payee is None:
        return TransferRefusal.RECIPIENT_NOT_FOUND
    if payer is not None and payee.user_id == payer.user_id:
        return TransferRefusal.SELF_TRANSFER
    if payer is None:
        return TransferRefusal.USER_NOT_FOUND
    if payer.currency != payee.currency:
        return TransferRefusal.CURRENCY_MISMATCH
    if not within_daily_limit(payer.spent_today, amount, daily_limit):
        return TransferRefusal.DAILY_LIMIT_EXCEEDED
    if not can_cover(payer.available, amount):
        return Status.FAILURE
    return Status.SUCCESS
