"""Wallets: opening one, and what its owner reads (balance, one transaction, history)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import InvalidRequest, TransactionNotFound, UserNotFound
from okane_core.ledger.book import Ledger, post
from okane_core.ledger.domain import AccountKind, Kind, Status, SystemAccount
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.repository import accounts
from okane_core.ledger.repository import history as history_repo
from okane_core.ledger.views import HistoryPage, TransactionView, Wallet


async def open_wallet(ledger: Ledger, session: AsyncSession, user_id: uuid.UUID) -> Wallet:
    """Open the user's wallet. A welcome credit, when configured, is a transfer from the
    promotions account: no money appears from nowhere."""
    account_id = await accounts.insert_account(
        session,
        kind=AccountKind.WALLET,
        currency=ledger.settings.currency,
        user_id=user_id,
        code=None,
    )
    if ledger.settings.welcome_credit > 0:
        source = await ledger.system_account(session, SystemAccount.PROMOTIONS)
        await lock_accounts(session, [source, account_id])
        await post(
            ledger,
            session,
            kind=Kind.P2P,
            debit=source,
            credit=account_id,
            amount=ledger.settings.welcome_credit,
            initiator_id=None,
            note="Welcome to OKANE",
        )
    return await wallet(session, user_id)


async def wallet(session: AsyncSession, user_id: uuid.UUID) -> Wallet:
    found = await accounts.wallet_of(session, user_id)
    if found is None:
        raise UserNotFound("this user has no wallet")
    return found


async def transaction(
    session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> TransactionView:
    """One transaction of this user's; another user's is indistinguishable from none."""
    owned = await wallet(session, user_id)
    view = await history_repo.transaction_for_account(session, owned.account_id, transaction_id)
    if view is None:
        raise TransactionNotFound("no such transaction", field="id")
    return view


async def history(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    limit: int = 20,
    starting_after: uuid.UUID | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> HistoryPage:
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100", field="limit")
    if kind is not None and kind not in set(Kind):
        raise InvalidRequest(f"kind must be one of {', '.join(Kind)}", field="kind")
    if status is not None and status not in set(Status):
        raise InvalidRequest(f"status must be one of {', '.join(Status)}", field="status")
    owned = await wallet(session, user_id)
    if starting_after is not None:
        # The cursor must be one of this user's own transactions.
        await transaction(session, user_id, starting_after)
    return await history_repo.history(
        session, owned.account_id, limit=limit, before=starting_after, kind=kind, status=status
    )
