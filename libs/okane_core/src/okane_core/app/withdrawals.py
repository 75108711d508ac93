"""Use case: withdraw to the bank (``ledger.withdrawals``): the amount is held until it answers."""

from __future__ import annotations

import uuid

from okane_core.app.context import Okane
from okane_core.ledger import withdrawals
from okane_core.ledger.views import TransactionView


async def request_withdrawal(
    okane: Okane, *, user_id: uuid.UUID, amount: int, idempotency_key: str
) -> tuple[TransactionView, bool]:
    return await okane.uow.write(
        lambda s: withdrawals.request_withdrawal(
            okane.ledger, s, user_id=user_id, amount=amount, idempotency_key=idempotency_key
        )
    )
