"""Withdrawals: money on hold (available -> locked) until the bank pays it out or refuses
(``settlement.settle``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.ids import new_reference
from okane_core.ledger import wallets
from okane_core.ledger.book import LIMIT_TIMEZONE, Ledger, check_daily, touch
from okane_core.ledger.domain import (
    BalanceChange,
    FailureReason,
    Kind,
    Status,
    SystemAccount,
    can_cover,
    validate_amount,
)
from okane_core.ledger.idempotency import idempotent
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import accounts, transactions
from okane_core.ledger.views import TransactionView
from okane_core.observability.tracing import current_traceparent


async def request_withdrawal(
    ledger: Ledger,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
) -> tuple[TransactionView, bool]:
    """Put ``amount`` on hold; not enough money is a recorded ``failure``."""
    validate_amount(amount, maximum=ledger.settings.max_transaction_amount)

    async def perform(transaction_id: uuid.UUID) -> TransactionView:
        wallet = await wallets.wallet(session, user_id)
        clearing = await ledger.system_account(session, SystemAccount.BANK_CLEARING)
        account = (await lock_accounts(session, [wallet.account_id]))[wallet.account_id]
        await check_daily(ledger, session, account.id, amount, kinds="outgoing")
        common: dict[str, Any] = {
            "id": transaction_id,
            "kind": Kind.WITHDRAWAL,
            "amount": amount,
            "currency": account.currency,
            "debit_account_id": account.id,
            "credit_account_id": clearing,
            "initiator_id": user_id,
        }
        if not can_cover(account.available, amount):
            failed = await transactions.insert_transaction(
                session,
                **common,
                status=Status.FAILURE,
                failure_reason=FailureReason.INSUFFICIENT_FUNDS,
            )
            await touch(session, account.id)
            return failed
        view = await transactions.insert_transaction(
            session,
            **common,
            status=Status.PROCESSING,
            reference=new_reference("wd"),
            expires_in_seconds=ledger.settings.settlement_deadline_seconds,
            trace_parent=current_traceparent(),
        )
        await accounts.apply_balance_changes(
            session, [BalanceChange(account.id, available=-amount, locked=amount)]
        )
        await accounts.count_sent(session, account.id, amount, timezone=LIMIT_TIMEZONE)
        return view

    view, replay = await idempotent(
        ledger,
        session,
        user_id=user_id,
        key=idempotency_key,
        operation="withdrawal",
        request={"amount": amount},
        perform=perform,
    )
    return await wallets.transaction(session, user_id, view.id), replay
