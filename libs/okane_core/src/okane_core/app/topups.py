"""Use case: start adding money from the bank (``ledger.topups``)."""

from __future__ import annotations

import uuid

from okane_core.app.context import Okane
from okane_core.ledger import topups
from okane_core.ledger.views import TransactionView


async def start_topup(
    okane: Okane, *, user_id: uuid.UUID, amount: int, idempotency_key: str
) -> tuple[TransactionView, bool]:
    return await okane.uow.write(
        lambda s: topups.start_topup(
            okane.ledger, s, user_id=user_id, amount=amount, idempotency_key=idempotency_key
        )
    )
