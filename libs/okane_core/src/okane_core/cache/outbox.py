"""The SQL of ``cache_outbox``: the invalidations that Redis has not confirmed yet.

Rows are written by triggers in the transaction of each change (migration 0006) and read by
every process's trust lease. The transfer batcher deletes the rows whose tombstones Redis
confirmed in its next call (migration 0012); the lease drains the rest once they are older
than a lease, when their writer could not confirm them (or died).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Pending:
    user_id: uuid.UUID
    kind: str  # keys.WALLET_KIND or keys.PROFILE_KIND
    version: int


async def pending(session: AsyncSession, *, limit: int) -> list[Pending]:
    """The newest pending version of each (user, kind), at most ``limit`` of them."""
    rows = await session.execute(
        text(
            "SELECT user_id, kind, max(version) FROM cache_outbox "
            "GROUP BY user_id, kind LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [Pending(user_id, kind, version) for user_id, kind, version in rows]


async def claim(session: AsyncSession, *, limit: int, older_than: float = 0) -> list[Pending]:
    """Delete up to ``limit`` rows no other drainer holds, written more than ``older_than``
    seconds ago, returning them; the caller commits only once Redis has confirmed their
    tombstones (else rolls back: the rows stay)."""
    rows = await session.execute(
        text(
            "DELETE FROM cache_outbox WHERE id IN ("
            "  SELECT id FROM cache_outbox"
            "  WHERE created_at < now() - make_interval(secs => :older_than)"
            "  ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
            ") RETURNING user_id, kind, version"
        ),
        {"limit": limit, "older_than": older_than},
    )
    return [Pending(user_id, kind, version) for user_id, kind, version in rows]


async def count(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM cache_outbox"))).scalar_one())
