"""The bank's answers: settling a pending top-up or withdrawal, and expiring overdue ones."""

from __future__ import annotations

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import AlreadySettled, AmountMismatch, TransactionNotFound
from okane_core.ledger.book import LIMIT_TIMEZONE, touch
from okane_core.ledger.domain import (
    BalanceChange,
    FailureReason,
    Kind,
    Status,
    balance_changes,
    check_transition,
    transfer_postings,
)
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import accounts, transactions
from okane_core.ledger.views import TransactionView
from okane_core.observability.tracing import link_to


async def settle(
    session: AsyncSession,
    *,
    reference: str,
    kind: Kind,
    success: bool,
    amount: int,
    reason: FailureReason = FailureReason.BANK_DECLINED,
) -> TransactionView:
    """Apply the bank's answer for a pending (``processing`` or ``unknown``) top-up or
    withdrawal, exactly once.

    The transaction row is locked first, so two settlements of one reference queue and the
    second finds it final (``already_settled``). A wrong amount changes nothing. An answer
    after the deadline is applied like any other: the bank's definite answer is the truth (a
    withdrawal it paid keeps its hold until then; a top-up it confirmed is credited).
    """
    txn = await transactions.lock_transaction(session, reference=reference)
    if txn is None or txn.kind != kind:
        raise TransactionNotFound(f"no pending {kind} has this reference", field="reference")
    for link in link_to(txn.trace_parent):
        # This callback's trace points at the request that started the transaction.
        trace.get_current_span().add_link(link.context, {"okane.reference": reference})
    if txn.status not in (Status.PROCESSING, Status.UNKNOWN):
        raise AlreadySettled(f"this {kind} is already {txn.status}", field="reference")
    if amount != txn.amount:
        raise AmountMismatch(f"the {kind} is for {txn.amount} paise, not {amount}", field="amount")
    return await finish(session, txn, success=success, reason=None if success else reason)


async def finish(
    session: AsyncSession,
    txn: TransactionView,
    *,
    success: bool,
    reason: FailureReason | None,
) -> TransactionView:
    """Move a locked, processing top-up or withdrawal to its final state."""
    new_status = Status.SUCCESS if success else Status.FAILURE
    check_transition(Status(txn.status), new_status)
    await lock_accounts(session, [txn.debit_account_id, txn.credit_account_id])
    if txn.kind == Kind.TOPUP and success:
        postings = transfer_postings(txn.debit_account_id, txn.credit_account_id, txn.amount)
        await transactions.insert_postings(session, txn.id, txn.currency, postings)
        await accounts.apply_balance_changes(session, balance_changes(postings))
    elif txn.kind == Kind.TOPUP:
        await touch(session, txn.credit_account_id)
    elif txn.kind == Kind.WITHDRAWAL:
        # The hold is released either way: paid out to the bank (the wallet's posting
        # comes out of ``locked``), or back to available.
        release = BalanceChange(txn.debit_account_id, locked=-txn.amount)
        if success:
            postings = transfer_postings(txn.debit_account_id, txn.credit_account_id, txn.amount)
            await transactions.insert_postings(session, txn.id, txn.currency, postings)
            payout = BalanceChange(txn.credit_account_id, available=txn.amount)
            await accounts.apply_balance_changes(session, [release, payout])
        else:
            refund = BalanceChange(txn.debit_account_id, available=txn.amount)
            await accounts.apply_balance_changes(session, [release, refund])
            await accounts.uncount_sent(
                session,
                txn.debit_account_id,
                txn.amount,
                sent_at=txn.created_at,
                timezone=LIMIT_TIMEZONE,
            )
    return await transactions.finish_transaction(
        session, txn.id, status=new_status, failure_reason=reason
    )


async def mark_overdue(session: AsyncSession) -> bool:
    """Move one ``processing`` top-up or withdrawal past its deadline to ``unknown``: the bank
    may have acted on it, so a withdrawal keeps its hold and a top-up waits for the bank's
    word (a late callback, or the answer to a status inquiry). False when none is left (or
    every one is taken by another worker). Locks as a settlement does: the transaction row,
    then the wallet; so each belongs in a unit of work of its own."""
    overdue = await transactions.lock_expired(session, 1)
    for txn in overdue:
        check_transition(Status(txn.status), Status.UNKNOWN)
        wallet = txn.credit_account_id if txn.kind == Kind.TOPUP else txn.debit_account_id
        await touch(session, wallet)  # the history shows the new status: a new version
        await transactions.mark_unknown(session, txn.id)
    return bool(overdue)
