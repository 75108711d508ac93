"""Idempotency of money-moving requests: one outcome per (user, Idempotency-Key)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import IdempotencyConflict, InvalidRequest
from okane_core.ids import new_id
from okane_core.ledger import wallets
from okane_core.ledger.book import Ledger
from okane_core.ledger.repository import idempotency
from okane_core.ledger.views import TransactionView


def request_hash(operation: str, request: dict[str, Any]) -> bytes:
    """A fingerprint of what was asked, to tell a replay from a different request."""
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).digest()


async def idempotent(
    ledger: Ledger,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str,
    operation: str,
    request: dict[str, Any],
    perform: Callable[[uuid.UUID], Awaitable[TransactionView]],
) -> tuple[TransactionView, bool]:
    """Run ``perform`` once per (user, key). ``perform`` creates the transaction with the id
    it is given. Returns the transaction and whether it is a replay of an earlier request."""
    if not key or len(key) > 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    fingerprint = request_hash(operation, request)
    new_transaction = new_id()
    claimed, held_operation, held_hash, transaction_id = await idempotency.claim_idempotency_key(
        session,
        user_id=user_id,
        key=key,
        operation=operation,
        request_hash=fingerprint,
        ttl_seconds=ledger.settings.idempotency_ttl_seconds,
        transaction_id=new_transaction,
    )
    if not claimed:
        if held_operation != operation or held_hash != fingerprint or transaction_id is None:
            raise IdempotencyConflict(
                "this Idempotency-Key was used for a different request",
                field="Idempotency-Key",
            )
        return await wallets.transaction(session, user_id, transaction_id), True
    view = await perform(new_transaction)
    assert view.id == new_transaction
    return view, False
