"""Top-ups: money the bank is asked to send into a wallet. Nothing is credited until the bank
confirms it (``settlement.settle``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.ids import new_reference
from okane_core.ledger import wallets
from okane_core.ledger.book import Ledger, check_daily, touch
from okane_core.ledger.domain import Kind, Status, SystemAccount, validate_amount
from okane_core.ledger.idempotency import idempotent
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import transactions
from okane_core.ledger.views import TransactionView
from okane_core.observability.tracing import current_traceparent


async def start_topup(
    ledger: Ledger,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
) -> tuple[TransactionView, bool]:
    """Record a top-up the bank has yet to confirm."""
    validate_amount(amount, maximum=ledger.settings.max_transaction_amount)

    async def perform(transaction_id: uuid.UUID) -> TransactionView:
        wallet = await wallets.wallet(session, user_id)
        clearing = await ledger.system_account(session, SystemAccount.BANK_CLEARING)
        # Serialise a user's top-ups so the daily cap holds under concurrency.
        await lock_accounts(session, [wallet.account_id])
        await check_daily(ledger, session, wallet.account_id, amount, kinds="topup")
        view = await transactions.insert_transaction(
            session,
            id=transaction_id,
            kind=Kind.TOPUP,
            status=Status.PROCESSING,
            amount=amount,
            currency=wallet.currency,
            debit_account_id=clearing,
            credit_account_id=wallet.account_id,
            initiator_id=user_id,
            reference=new_reference("tp"),
            expires_in_seconds=ledger.settings.settlement_deadline_seconds,
            trace_parent=current_traceparent(),
        )
        await touch(session, wallet.account_id)
        return view

    view, replay = await idempotent(
        ledger,
        session,
        user_id=user_id,
        key=idempotency_key,
        operation="topup",
        request={"amount": amount},
        perform=perform,
    )
    return await wallets.transaction(session, user_id, view.id), replay
