"""Use case: an admin reverses a successful transaction (``ledger.reversals``)."""

from __future__ import annotations

import uuid

from okane_core.app.context import Okane
from okane_core.ledger import reversals
from okane_core.ledger.views import TransactionView


async def reverse(
    okane: Okane, *, transaction_id: uuid.UUID, initiator_id: uuid.UUID, note: str | None
) -> TransactionView:
    return await okane.uow.write(
        lambda s: reversals.reverse(
            s, transaction_id=transaction_id, initiator_id=initiator_id, note=note
        )
    )
