"""The primitives every ledger operation shares: the process's ledger configuration (settings,
system account ids), recording a successful movement, and the daily limits.

Every operation that moves money locks all the account rows it touches in ascending id order
(``lock_accounts``), checks its rules against the locked rows, then writes the transaction, its
postings and the new balances. Nothing reads a balance it has not locked before deciding. The
operations take the session of one unit of work and never commit: the unit of work does
(``okane_core.db.uow``).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import DailyLimitExceeded
from okane_core.ids import new_id
from okane_core.ledger.domain import (
    BalanceChange,
    Kind,
    Status,
    SystemAccount,
    balance_changes,
    check_balanced,
    transfer_postings,
    within_daily_limit,
)
from okane_core.ledger.repository import accounts, transactions
from okane_core.ledger.views import TransactionView
from okane_core.settings import Settings

# Days start at midnight in India for daily limits.
LIMIT_TIMEZONE = "Asia/Kolkata"
MAX_NOTE_LENGTH = 140


class Ledger:
    """The ledger's configuration, built once per process: settings, and the ids of the system
    accounts (read once, on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._system_ids: dict[str, int] = {}

    async def system_account(self, session: AsyncSession, code: SystemAccount) -> int:
        if code not in self._system_ids:
            account_id = await accounts.system_account_id(session, code)
            if account_id is None:
                raise LookupError(f"system account {code} is missing: run the migrations")
            self._system_ids[code] = account_id
        return self._system_ids[code]


async def post(
    ledger: Ledger,
    session: AsyncSession,
    *,
    kind: Kind,
    debit: int,
    credit: int,
    amount: int,
    initiator_id: uuid.UUID | None,
    note: str | None = None,
    reverses_id: uuid.UUID | None = None,
) -> TransactionView:
    """Record a successful movement: transaction, balanced postings, new balances.
    The caller holds the locks on both accounts."""
    postings = transfer_postings(debit, credit, amount)
    check_balanced(postings)
    view = await transactions.insert_transaction(
        session,
        id=new_id(),
        kind=kind,
        status=Status.SUCCESS,
        amount=amount,
        currency=ledger.settings.currency,
        debit_account_id=debit,
        credit_account_id=credit,
        initiator_id=initiator_id,
        note=note,
        reverses_id=reverses_id,
    )
    await transactions.insert_postings(session, view.id, ledger.settings.currency, postings)
    await accounts.apply_balance_changes(session, balance_changes(postings))
    return view


async def touch(session: AsyncSession, account_id: int) -> None:
    """Bump a locked wallet's version without moving money: what its owner sees (history)
    changed, so cached views of it must be replaced."""
    await accounts.apply_balance_changes(session, [BalanceChange(account_id)])


async def check_daily(
    ledger: Ledger, session: AsyncSession, account_id: int, amount: int, *, kinds: str
) -> None:
    """Refuse ``amount`` over the day's limit. Outgoing limits read the account's counter of
    the day (the caller holds its lock and counts the debit with ``accounts.count_sent``)."""
    settings = ledger.settings
    limit = settings.daily_outgoing_limit if kinds == "outgoing" else settings.daily_topup_limit
    spent = None
    if kinds == "outgoing":
        spent = await accounts.sent_today(session, account_id, timezone=LIMIT_TIMEZONE)
    if spent is None:
        spent = await transactions.spent_today(
            session, account_id, kinds=kinds, timezone=LIMIT_TIMEZONE
        )
    if not within_daily_limit(spent, amount, limit):
        raise DailyLimitExceeded(
            f"this would exceed the daily limit of {limit} paise "
            f"({max(limit - spent, 0)} paise left today)",
            field="amount",
        )
