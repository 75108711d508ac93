"""The SQL of ``rate_limits``: fixed-window counters, one row per limited thing."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def hit(session: AsyncSession, key: str, window: int) -> tuple[int, int]:
    """Count one event in the current window (a new one if the last has ended); returns the
    count and the seconds left in the window."""
    row = (
        await session.execute(
            text(
                "INSERT INTO rate_limits AS r (key, count, window_ends) "
                "VALUES (:key, 1, now() + make_interval(secs => :window)) "
                "ON CONFLICT (key) DO UPDATE SET "
                "  count = CASE WHEN r.window_ends <= now() THEN 1 ELSE r.count + 1 END, "
                "  window_ends = CASE WHEN r.window_ends <= now() "
                "    THEN excluded.window_ends ELSE r.window_ends END "
                "RETURNING count, ceil(extract(epoch FROM window_ends - now()))::int"
            ),
            {"key": key, "window": window},
        )
    ).one()
    return int(row[0]), int(row[1])


async def peek(session: AsyncSession, key: str) -> tuple[int, int] | None:
    """The count and seconds left of the key's window, if one is running."""
    row = (
        await session.execute(
            text(
                "SELECT count, ceil(extract(epoch FROM window_ends - now()))::int "
                "FROM rate_limits WHERE key = :key AND window_ends > now()"
            ),
            {"key": key},
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), int(row[1]))


async def reset(session: AsyncSession, key: str) -> None:
    await session.execute(text("DELETE FROM rate_limits WHERE key = :key"), {"key": key})


async def drop_ended(session: AsyncSession, *, limit: int) -> int:
    """Delete up to ``limit`` counters whose window has ended; returns how many."""
    result = await session.execute(
        text(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits "
            "WHERE window_ends <= now() LIMIT :limit FOR UPDATE SKIP LOCKED)"
        ),
        {"limit": limit},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
