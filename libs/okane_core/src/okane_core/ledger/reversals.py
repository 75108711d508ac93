"""Reversals: undoing a successful transaction with a new, opposite one (an admin action)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import InsufficientFunds, NotReversible, TransactionNotFound
from okane_core.ids import new_id
from okane_core.ledger.domain import (
    AccountKind,
    Kind,
    Status,
    balance_changes,
    reversal_postings,
)
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import accounts, transactions
from okane_core.ledger.views import TransactionView


def check_reversible(original: TransactionView) -> None:
    """Only a successful top-up or transfer. Money paid out to a bank has left OKANE: only the
    bank's return brings it back, never a ledger entry (it would credit the wallet twice)."""
    if original.kind == Kind.WITHDRAWAL:
        raise NotReversible("a paid-out withdrawal is undone only by the bank's return")
    if original.kind == Kind.REVERSAL or original.status != Status.SUCCESS:
        raise NotReversible("only a successful top-up or transfer can be reversed")


async def reverse(
    session: AsyncSession,
    *,
    transaction_id: uuid.UUID,
    initiator_id: uuid.UUID | None,
    note: str | None = None,
) -> TransactionView:
    """Postings are never changed. A transaction can be reversed once."""
    original = await transactions.lock_transaction(session, transaction_id=transaction_id)
    if original is None:
        raise TransactionNotFound("no such transaction", field="transaction_id")
    check_reversible(original)
    if await transactions.reversal_of(session, original.id) is not None:
        raise NotReversible("this transaction was already reversed")
    postings = reversal_postings(await transactions.postings_of(session, original.id))
    locked = await lock_accounts(session, [p.account_id for p in postings])
    for posting in postings:
        account = locked[posting.account_id]
        if account.kind == AccountKind.WALLET and account.available + posting.amount < 0:
            raise InsufficientFunds("the wallet to be debited no longer holds the amount")
    view = await transactions.insert_transaction(
        session,
        id=new_id(),
        kind=Kind.REVERSAL,
        status=Status.SUCCESS,
        amount=original.amount,
        currency=original.currency,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        initiator_id=initiator_id,
        note=note,
        reverses_id=original.id,
    )
    await transactions.insert_postings(session, view.id, view.currency, postings)
    await accounts.apply_balance_changes(session, balance_changes(postings))
    return view
