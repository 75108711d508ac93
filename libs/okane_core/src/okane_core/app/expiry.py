"""Use case: expire overdue top-ups and withdrawals (releasing holds), and drop idempotency
keys past their lifetime. Run by bank-webhook's sweeper and by ``okane ledger expire``; every
batch is a unit of work, so the wallets it changes are invalidated in the cache and their
owners' connected clients hear of it."""

from __future__ import annotations

from okane_core.app.context import Okane
from okane_core.ledger import settlement
from okane_core.ledger.repository import idempotency
from okane_core.users import rate_limits


async def expire_overdue(okane: Okane, *, batch: int = 500) -> int:
    """Expire everything overdue, ``batch`` transactions per unit of work. Safe with many
    replicas: rows another process is expiring are skipped (SKIP LOCKED)."""
    total = 0
    while True:
        count = await okane.uow.write(lambda s: settlement.expire_pending(s, limit=batch))
        total += count
        if count < batch:
            return total


async def drop_expired_keys(okane: Okane, *, limit: int = 5000) -> int:
    """Idempotency keys past their lifetime are only taken over when reused, rate-limit
    counters only when hit again: drop them."""
    keys = await okane.uow.write(
        lambda s: idempotency.delete_expired_idempotency_keys(s, limit=limit)
    )
    counters = await okane.uow.write(lambda s: rate_limits.drop_ended(s, limit=limit))
    return keys + counters
