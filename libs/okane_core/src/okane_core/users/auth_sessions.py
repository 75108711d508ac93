"""SQL of login sessions (``auth_sessions``): the API's refresh-token sessions and the web
app's cookie sessions alike."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None
    reused: bool  # found by its previous (already rotated) refresh token
    current_hash: bytes  # the hash of its current refresh token
    rotated_seconds_ago: float  # since the last rotation


async def create_session(
    session: AsyncSession,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    refresh_hash: bytes,
    method: str,
    lifetime_seconds: int,
) -> None:
    await session.execute(
        text(
            "INSERT INTO auth_sessions (id, user_id, refresh_token_hash, method, expires_at) "
            "VALUES (:id, :user_id, :hash, :method, now() + make_interval(secs => :ttl))"
        ),
        {
            "id": session_id,
            "user_id": user_id,
            "hash": refresh_hash,
            "method": method,
            "ttl": lifetime_seconds,
        },
    )


async def lock_session_by_token(session: AsyncSession, refresh_hash: bytes) -> SessionRow | None:
    row = (
        await session.execute(
            text(
                "SELECT id, user_id, expires_at, revoked_at, "
                "refresh_token_hash <> :hash AS reused, refresh_token_hash, "
                "extract(epoch FROM now() - refreshed_at)::float8 FROM auth_sessions "
                "WHERE refresh_token_hash = :hash OR previous_token_hash = :hash FOR UPDATE"
            ),
            {"hash": refresh_hash},
        )
    ).one_or_none()
    return None if row is None else SessionRow(*row)


async def rotate(session: AsyncSession, session_id: uuid.UUID, new_hash: bytes) -> None:
    await session.execute(
        text(
            "UPDATE auth_sessions SET previous_token_hash = refresh_token_hash, "
            "refresh_token_hash = :hash, refreshed_at = now() WHERE id = :id"
        ),
        {"id": session_id, "hash": new_hash},
    )


async def revoke(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE auth_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id"),
        {"id": session_id},
    )


async def revoked_since(
    session: AsyncSession, seconds: float
) -> tuple[float, dict[uuid.UUID, float]]:
    """The database's clock (epoch seconds) and the sessions revoked in the last ``seconds``,
    with the time of their revocation."""
    rows = (
        await session.execute(
            text(
                "SELECT extract(epoch FROM statement_timestamp())::float8, NULL::uuid, NULL "
                "UNION ALL "
                "SELECT NULL, id, extract(epoch FROM revoked_at)::float8 FROM auth_sessions "
                "WHERE revoked_at > statement_timestamp() - make_interval(secs => :seconds)"
            ),
            {"seconds": seconds},
        )
    ).all()
    now = next(row[0] for row in rows if row[1] is None)
    return float(now), {row[1]: float(row[2]) for row in rows if row[1] is not None}


async def is_active(session: AsyncSession, session_id: uuid.UUID) -> bool:
    result = await session.execute(
        text(
            "SELECT 1 FROM auth_sessions WHERE id = :id AND revoked_at IS NULL "
            "AND expires_at > now()"
        ),
        {"id": session_id},
    )
    return result.scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class ActiveSession:
    id: uuid.UUID
    user_id: uuid.UUID
    is_admin: bool
    expires_at: datetime


async def active_session(session: AsyncSession, credential_hash: bytes) -> ActiveSession | None:
    """The live (not revoked, not expired) session whose credential hashes to this."""
    row = (
        await session.execute(
            text(
                "SELECT s.id, s.user_id, u.is_admin, s.expires_at FROM auth_sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.refresh_token_hash = :hash "
                "AND s.revoked_at IS NULL AND s.expires_at > now()"
            ),
            {"hash": credential_hash},
        )
    ).one_or_none()
    return None if row is None else ActiveSession(*row)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: uuid.UUID
    method: str
    created_at: datetime
    refreshed_at: datetime
    expires_at: datetime


async def live_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[SessionInfo]:
    """The user's signed-in devices (sessions not revoked and not expired), newest first."""
    rows = await session.execute(
        text(
            "SELECT id, method, created_at, refreshed_at, expires_at FROM auth_sessions "
            "WHERE user_id = :user_id AND revoked_at IS NULL AND expires_at > now() "
            "ORDER BY refreshed_at DESC LIMIT 100"
        ),
        {"user_id": user_id},
    )
    return [SessionInfo(*row) for row in rows]


async def revoke_own(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """End one of the user's own live sessions; False if there is none with this id."""
    result = await session.execute(
        text(
            "UPDATE auth_sessions SET revoked_at = now() WHERE id = :id AND user_id = :user_id "
            "AND revoked_at IS NULL AND expires_at > now()"
        ),
        {"id": session_id, "user_id": user_id},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_all(
    session: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """End every live session of the user (but ``keep``); returns the ones it ended."""
    result = await session.execute(
        text(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = :user_id "
            "AND revoked_at IS NULL AND expires_at > now() "
            "AND id IS DISTINCT FROM CAST(:keep AS uuid) RETURNING id"
        ),
        {"user_id": user_id, "keep": keep},
    )
    return list(result.scalars())
