"""Use case: expire overdue top-ups and withdrawals (releasing holds), and drop idempotency
keys past their lifetime. Run by bank-webhook's sweeper and by ``okane ledger expire``; every
expiry is a unit of work, so the wallets it changes are invalidated in the cache and their
owners' connected clients hear of it."""

from __future__ import annotations

from okane_core.app.context import Okane
from okane_core.ledger import settlement
from okane_core.ledger.repository import idempotency
from okane_core.users import rate_limits


async def expire_overdue(okane: Okane, *, limit: int = 500) -> int:
    """Expire up to ``limit`` overdue transactions, each in a short unit of work of its own
    (so the sweep never holds ``bank_clearing`` or a wallet while it expires the next one).
    Safe with many replicas: rows another process is expiring are skipped (SKIP LOCKED)."""
    total = 0
    while total < limit and await okane.uow.write(settlement.expire_one):
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
