"""SQL of one-time codes: stored as hashes, tried a bounded number of times, used once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


@dataclass(frozen=True, slots=True)
class CodeRow:
    id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    address: str
    code_hash: bytes
    attempts: int


async def insert(
    session: AsyncSession,
    *,
    code_id: uuid.UUID,
    user_id: uuid.UUID,
    purpose: str,
    channel: str,
    address: str,
    code_hash: bytes,
    lifetime_seconds: int,
) -> None:
    """A new code; earlier live codes of the same purpose and channel stop working."""
    await session.execute(
        sql(
            "UPDATE one_time_codes SET used_at = now() WHERE user_id = :user AND "
            "purpose = :purpose AND channel = :channel AND used_at IS NULL"
        ),
        {"user": user_id, "purpose": purpose, "channel": channel},
    )
    await session.execute(
        sql(
            "INSERT INTO one_time_codes (id, user_id, purpose, channel, address, code_hash, "
            "expires_at) VALUES (:id, :user, :purpose, :channel, :address, :hash, "
            "now() + make_interval(secs => :lifetime))"
        ),
        {
            "id": code_id,
            "user": user_id,
            "purpose": purpose,
            "channel": channel,
            "address": address,
            "hash": code_hash,
            "lifetime": lifetime_seconds,
        },
    )


_LIVE = (
    "SELECT id, user_id, channel, address, code_hash, attempts FROM one_time_codes "
    "WHERE used_at IS NULL AND expires_at > now() AND purpose = :purpose "
)


async def lock_live(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: str, channel: str | None
) -> CodeRow | None:
    """The user's live code of this purpose (on ``channel``, or any), locked."""
    row = (
        await session.execute(
            sql(
                _LIVE + "AND user_id = :user AND (CAST(:channel AS text) IS NULL OR "
                "channel = :channel) ORDER BY created_at DESC LIMIT 1 FOR UPDATE"
            ),
            {"user": user_id, "purpose": purpose, "channel": channel},
        )
    ).one_or_none()
    return None if row is None else CodeRow(*row)


async def lock_by_id(session: AsyncSession, code_id: uuid.UUID, purpose: str) -> CodeRow | None:
    row = (
        await session.execute(
            sql(_LIVE + "AND id = :id FOR UPDATE"), {"id": code_id, "purpose": purpose}
        )
    ).one_or_none()
    return None if row is None else CodeRow(*row)


async def count_attempt(session: AsyncSession, code_id: uuid.UUID) -> None:
    await session.execute(
        sql("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = :id"), {"id": code_id}
    )


async def use(session: AsyncSession, code_id: uuid.UUID) -> None:
    await session.execute(
        sql("UPDATE one_time_codes SET used_at = now() WHERE id = :id"), {"id": code_id}
    )


async def drop_ended(session: AsyncSession, *, limit: int) -> int:
    """Delete up to ``limit`` codes that expired a day ago or more."""
    result = await session.execute(
        sql(
            "DELETE FROM one_time_codes WHERE id IN (SELECT id FROM one_time_codes "
            "WHERE expires_at < now() - interval '1 day' LIMIT :limit FOR UPDATE SKIP LOCKED)"
        ),
        {"limit": limit},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
