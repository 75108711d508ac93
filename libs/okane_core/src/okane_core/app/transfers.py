"""Use case: pay another user (``ledger.transfers``), in one unit of work."""

from __future__ import annotations

import uuid

from okane_core.app.context import Okane
from okane_core.ledger import transfers
from okane_core.ledger.views import TransactionView


async def transfer(
    okane: Okane,
    *,
    user_id: uuid.UUID,
    to: str,
    amount: int,
    note: str | None,
    idempotency_key: str,
) -> tuple[TransactionView, bool]:
    """The transaction, and whether this request replays an earlier one with the same key."""
    return await okane.uow.write(
        lambda s: transfers.transfer(
            okane.ledger,
            s,
            user_id=user_id,
            to=to,
            amount=amount,
            note=note,
            idempotency_key=idempotency_key,
        )
    )
