"""Use cases of login sessions: open, rotate, end, and check one. Tokens, cookies and password
hashing stay with the service that issues them; these keep the session rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.uow import UnitOfWork
from okane_core.errors import AuthenticationFailed, SessionNotFound
from okane_core.users import auth_sessions
from okane_core.users.auth_sessions import ActiveSession


@dataclass(frozen=True, slots=True)
class Rotation:
    user_id: uuid.UUID
    session_id: uuid.UUID
    rotated: bool  # False: the token had already been rotated, and the session is now revoked


async def open_session(
    uow: UnitOfWork,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    credential_hash: bytes,
    method: str,
    lifetime_seconds: int,
) -> None:
    await uow.write(
        lambda s: auth_sessions.create_session(
            s,
            session_id=session_id,
            user_id=user_id,
            refresh_hash=credential_hash,
            method=method,
            lifetime_seconds=lifetime_seconds,
        )
    )


async def rotate(
    uow: UnitOfWork, *, old_hash: bytes, new_hash: bytes, grace_seconds: float = 0
) -> Rotation:
    """Swap the refresh credential. ``new_hash`` is derived from the old credential, so a
    client retrying a refresh whose answer it lost (within ``grace_seconds`` of the rotation)
    presents the previous credential and gets the same new one. Presenting an already-rotated
    one otherwise means it was copied: the whole session is revoked (``rotated`` is False)."""

    async def work(s: AsyncSession) -> Rotation:
        row = await auth_sessions.lock_session_by_token(s, old_hash)
        if row is None or row.revoked_at is not None:
            raise AuthenticationFailed("the refresh token is invalid")
        retried = row.current_hash == new_hash and row.rotated_seconds_ago <= grace_seconds
        if row.reused and retried:
            return Rotation(row.user_id, row.id, rotated=True)
        if row.reused:
            await auth_sessions.revoke(s, row.id)
            return Rotation(row.user_id, row.id, rotated=False)
        if not await auth_sessions.is_active(s, row.id):
            raise AuthenticationFailed("the refresh token has expired")
        await auth_sessions.rotate(s, row.id, new_hash)
        return Rotation(row.user_id, row.id, rotated=True)

    return await uow.write(work)


async def end_session(uow: UnitOfWork, session_id: uuid.UUID) -> None:
    await uow.write(lambda s: auth_sessions.revoke(s, session_id))


async def is_active(uow: UnitOfWork, session_id: uuid.UUID) -> bool:
    return await uow.read(lambda s: auth_sessions.is_active(s, session_id))


async def active_session(uow: UnitOfWork, credential_hash: bytes) -> ActiveSession | None:
    return await uow.read(lambda s: auth_sessions.active_session(s, credential_hash))


async def live_sessions(uow: UnitOfWork, user_id: uuid.UUID) -> list[auth_sessions.SessionInfo]:
    return await uow.read(lambda s: auth_sessions.live_sessions(s, user_id))


async def end_own_session(uow: UnitOfWork, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """End one of the user's signed-in devices; another user's session is as missing as one
    that never existed."""
    if not await uow.write(lambda s: auth_sessions.revoke_own(s, user_id, session_id)):
        raise SessionNotFound("no signed-in session has this id", field="session_id")
