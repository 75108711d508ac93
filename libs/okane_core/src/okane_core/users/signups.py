"""SQL of sign-ups waiting for their phone's code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


@dataclass(frozen=True, slots=True)
class SignupRow:
    id: uuid.UUID
    name: str
    phone: str
    email: str | None
    password_hash: str
    code_hash: bytes
    attempts: int


async def insert(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    name: str,
    phone: str,
    email: str | None,
    password_hash: str,
    code_hash: bytes,
    lifetime_seconds: int,
) -> None:
    """A new sign-up for ``phone``; earlier ones waiting for it stop working."""
    await session.execute(
        sql("UPDATE signup_requests SET used_at = now() WHERE phone = :phone AND used_at IS NULL"),
        {"phone": phone},
    )
    await session.execute(
        sql(
            "INSERT INTO signup_requests (id, name, phone, email, password_hash, code_hash, "
            "expires_at) VALUES (:id, :name, :phone, :email, :password_hash, :code_hash, "
            "now() + make_interval(secs => :lifetime))"
        ),
        {
            "id": request_id,
            "name": name,
            "phone": phone,
            "email": email,
            "password_hash": password_hash,
            "code_hash": code_hash,
            "lifetime": lifetime_seconds,
        },
    )


async def lock_live(session: AsyncSession, phone: str) -> SignupRow | None:
    row = (
        await session.execute(
            sql(
                "SELECT id, name, phone, email, password_hash, code_hash, attempts "
                "FROM signup_requests WHERE phone = :phone AND used_at IS NULL "
                "AND expires_at > now() ORDER BY created_at DESC LIMIT 1 FOR UPDATE"
            ),
            {"phone": phone},
        )
    ).one_or_none()
    return None if row is None else SignupRow(*row)


async def count_attempt(session: AsyncSession, request_id: uuid.UUID) -> None:
    await session.execute(
        sql("UPDATE signup_requests SET attempts = attempts + 1 WHERE id = :id"),
        {"id": request_id},
    )


async def use(session: AsyncSession, request_id: uuid.UUID) -> None:
    await session.execute(
        sql("UPDATE signup_requests SET used_at = now() WHERE id = :id"), {"id": request_id}
    )
