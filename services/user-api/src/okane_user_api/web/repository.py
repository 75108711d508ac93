"""SQL for web sessions (rows of ``auth_sessions``, like every other login session)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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
