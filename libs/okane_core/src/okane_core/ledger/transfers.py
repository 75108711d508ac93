"""P2P transfers: pay another user, found by user id, phone or email."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import (
    CurrencyMismatch,
    InvalidRequest,
    RecipientNotFound,
    SelfTransfer,
    UserNotFound,
)
from okane_core.ledger.book import MAX_NOTE_LENGTH, Ledger, check_daily, touch
from okane_core.ledger.domain import FailureReason, Kind, Status, can_cover, validate_amount
from okane_core.ledger.idempotency import idempotent
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import transactions
from okane_core.ledger.views import TransactionView
from okane_core.users.domain import parse_user_ref


async def transfer(
    ledger: Ledger,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    to: str,
    amount: int,
    note: str | None = None,
    idempotency_key: str,
) -> tuple[TransactionView, bool]:
    """Pay another user. Returns the transaction and whether this was a replay.

    Insufficient funds is not an error: it is recorded as a ``failure`` transaction with
    reason ``insufficient_funds`` and moves nothing, so the payer sees it in the history. The
    success path writes the transaction, the postings of ``domain.transfer_postings`` (one
    debit, one credit), both balances and both contacts in one statement
    (``transactions.post_transfer``); the database's balance trigger is the net.
    """
    validate_amount(amount, maximum=ledger.settings.max_transaction_amount)
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"note must be at most {MAX_NOTE_LENGTH} characters", field="note")
    by, ref = parse_user_ref(to)
    request = {"to": to.strip(), "amount": amount, "note": note}

    async def perform(transaction_id: uuid.UUID) -> TransactionView:
        sender, recipient = await transactions.transfer_parties(session, user_id, by, ref)
        if recipient is None:
            raise RecipientNotFound("no OKANE user has this id, phone or email", field="to")
        if recipient.user_id == user_id:
            raise SelfTransfer("you cannot pay yourself", field="to")
        if sender is None:
            raise UserNotFound("this user has no wallet")
        locked = await lock_accounts(session, [sender.account_id, recipient.account_id])
        debit = locked[sender.account_id]
        if debit.currency != locked[recipient.account_id].currency:
            raise CurrencyMismatch("the two wallets hold different currencies", field="to")
        await check_daily(ledger, session, debit.id, amount, kinds="outgoing")
        if not can_cover(debit.available, amount):
            view = await transactions.insert_transaction(
                session,
                id=transaction_id,
                kind=Kind.P2P,
                status=Status.FAILURE,
                failure_reason=FailureReason.INSUFFICIENT_FUNDS,
                amount=amount,
                currency=debit.currency,
                debit_account_id=debit.id,
                credit_account_id=recipient.account_id,
                initiator_id=user_id,
                note=note,
            )
            await touch(session, debit.id)
        else:
            view = await transactions.post_transfer(
                session,
                id=transaction_id,
                debit=sender,
                credit=recipient,
                amount=amount,
                currency=debit.currency,
                note=note,
            )
        # What the payer sees, without reading it back.
        return dataclasses.replace(
            view,
            direction="debit",
            counterparty_id=recipient.user_id,
            counterparty_name=recipient.name,
        )

    return await idempotent(
        ledger,
        session,
        user_id=user_id,
        key=idempotency_key,
        operation="transfer",
        request=request,
        perform=perform,
    )
