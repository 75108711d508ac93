"""Use case: set aside overdue top-ups and withdrawals as ``unknown`` until the bank answers,
and drop idempotency keys and rate-limit counters past their lifetime. Run by bank-webhook's
sweeper and by ``okane ledger expire``; each one is a unit of work, so the wallets it changes
are invalidated in the cache and their owners' connected clients hear of it."""

from __future__ import annotations

from okane_core.app.context import Okane
from okane_core.ledger import settlement
from okane_core.ledger.repository import idempotency
from okane_core.users import rate_limits


async def expire_overdue(okane: Okane, *, limit: int = 500) -> int:
    """Move up to ``limit`` top-ups and withdrawals past their deadline to ``unknown`` (holds
    kept: the bank may have acted), each in a short unit of work of its own, so the sweep never
    holds a wallet while it takes the next one. Safe with many replicas: rows another process
    holds are skipped (SKIP LOCKED)."""
    total = 0
    while total < limit and await okane.uow.write(settlement.mark_overdue):
        total += 1
    return total


async def drop_expired_keys(okane: Okane, *, limit: int = 5000) -> int:
    """Idempotency keys past their lifetime are only taken over when reused, rate-limit
    counters only when hit again: drop them."""
    keys = await okane.uow.write(
        lambda s: idempotency.delete_expired_idempotency_keys(s, limit=limit)
    )
    counters = await okane.uow.write(lambda s: rate_limits.drop_ended(s, limit=limit))
    return keys + counters
