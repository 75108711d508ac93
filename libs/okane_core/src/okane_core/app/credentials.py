"""Use cases of passwords: change one (knowing the current one) and reset a forgotten one with a
one-time code sent to a proven phone or email. Either ends the other sessions (a reset: all of
them) and tells the owner. Hashing stays with the service; these keep the rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.app.verification import (
    CHANNELS,
    RESET,
    STEP_UP,
    code_matches,
    issue_code,
    notify,
    secret_of,
    write_or_refuse,
)
from okane_core.errors import UserNotFound
from okane_core.users import auth_sessions, codes
from okane_core.users import repository as users
from okane_core.users.views import UserRecord


@dataclass(frozen=True, slots=True)
class Ended:
    """Whose sessions a password change ended (the caller publishes the revocations)."""

    user_id: uuid.UUID
    sessions: list[uuid.UUID]


async def _set_password(
    s: AsyncSession, user: UserRecord, password_hash: str, *, keep: uuid.UUID | None, how: str
) -> Ended:
    await users.update_user(s, user.id, password_hash=password_hash)
    ended = await auth_sessions.revoke_all(s, user.id, keep=keep)
    await notify(
        s,
        user,
        kind="password_changed",
        subject="Your OKANE password was changed",
        body=f"The password of your OKANE wallet was {how}; every other device was signed "
        "out. If this was not you, reset your password now and contact support.",
    )
    return Ended(user.id, ended)


async def change_password(
    okane: Okane, user_id: uuid.UUID, password_hash: str, *, keep: uuid.UUID
) -> Ended:
    """The service checked the current password; this session (``keep``) stays signed in."""

    async def work(s: AsyncSession) -> Ended:
        user = await users.get_user(s, user_id)
        if user is None:
            raise UserNotFound("no such user")
        return await _set_password(s, user, password_hash, keep=keep, how="changed")

    return await okane.uow.write(work)


def reset_channel(user: UserRecord, by: str) -> str | None:
    """Where a reset code may go: the address the person typed when it is proven, else any
    proven one; never an unproven address."""
    if by in CHANNELS and user.verified(by):
        return by
    return next((c for c in CHANNELS if user.verified(c)), None)


async def _send_code(okane: Okane, by: str, value: str, purpose: str) -> None:
    """Send a ``purpose`` code to a proven address of the account, if there is an account
    with one (the caller answers the same either way)."""

    async def work(s: AsyncSession) -> None:
        user = await users.find_user(s, by, value)
        channel = None if user is None else reset_channel(user, by)
        if user is not None and channel is not None:
            await issue_code(s, okane.settings, user, purpose=purpose, channel=channel)

    await okane.uow.write(work)


async def _holder_of_code(
    okane: Okane, s: AsyncSession, by: str, value: str, *, purpose: str, code: str
) -> UserRecord | None:
    """The account whose live ``purpose`` code this is (a try counts either way)."""
    user = await users.find_user(s, by, value)
    if user is None:
        return None
    row = await codes.lock_live(s, user_id=user.id, purpose=purpose, channel=None)
    return user if await code_matches(s, okane.settings, row, secret_of(row, code)) else None


async def start_reset(okane: Okane, by: str, value: str) -> None:
    """Send a reset code, when there is an account with a proven address."""
    await _send_code(okane, by, value, RESET)


async def finish_reset(okane: Okane, by: str, value: str, code: str, password_hash: str) -> Ended:
    """Set the new password with the code; every session ends. A wrong code counts as a try
    (committed), and an unknown account is refused exactly like a wrong code."""

    async def work(s: AsyncSession) -> Ended | None:
        user = await _holder_of_code(okane, s, by, value, purpose=RESET, code=code)
        if user is None:
            return None
        return await _set_password(s, user, password_hash, keep=None, how="reset")

    return await write_or_refuse(okane, work)


async def start_step_up(okane: Okane, by: str, value: str) -> None:
    """Send a sign-in code to a proven address of the account, if there is one."""
    await _send_code(okane, by, value, STEP_UP)


async def use_step_up(okane: Okane, by: str, value: str, code: str) -> bool:
    """Whether ``code`` is the account's live sign-in code (a try counts either way)."""

    async def work(s: AsyncSession) -> bool:
        return await _holder_of_code(okane, s, by, value, purpose=STEP_UP, code=code) is not None

    return await okane.uow.write(work)
