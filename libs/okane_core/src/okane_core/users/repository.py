"""SQL for users."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import changes_of
from okane_core.db.models import User
from okane_core.db.sql import sql
from okane_core.errors import DuplicateUser
from okane_core.users.views import ContactRecord, UserRecord

_COLUMNS = (
    User.id,
    User.name,
    User.phone,
    User.email,
    User.password_hash,
    User.google_subject,
    User.is_admin,
    User.version,
    User.created_at,
    User.phone_verified_at.is_not(None).label("phone_verified"),
    User.email_verified_at.is_not(None).label("email_verified"),
)


def _record(row: Any) -> UserRecord:
    return UserRecord(*row)


async def insert_user(session: AsyncSession, **values: Any) -> UserRecord:
    """Insert a user; a taken phone, email or Google subject is a ``DuplicateUser``."""
    try:
        async with session.begin_nested():
            row = (await session.execute(insert(User).values(**values).returning(*_COLUMNS))).one()
    except IntegrityError as error:
        detail = str(error.orig)
        field = next((f for f in ("phone", "email", "google_subject") if f in detail), None)
        raise DuplicateUser(
            f"a user with this {field or 'identity'} already exists", field=field
        ) from error
    return _record(row)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> UserRecord | None:
    row = (await session.execute(select(*_COLUMNS).where(User.id == user_id))).one_or_none()
    return None if row is None else _record(row)


async def users_by_ids(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[UserRecord]:
    rows = await session.execute(select(*_COLUMNS).where(User.id.in_(user_ids)))
    return [_record(row) for row in rows]


async def find_user(session: AsyncSession, by: str, value: str | uuid.UUID) -> UserRecord | None:
    """Look a user up by ``id``, ``phone``, ``email`` or ``google_subject``."""
    column = {
        "id": User.id,
        "phone": User.phone,
        "email": User.email,
        "google_subject": User.google_subject,
    }[by]
    row = (await session.execute(select(*_COLUMNS).where(column == value))).one_or_none()
    return None if row is None else _record(row)


async def update_user(session: AsyncSession, user_id: uuid.UUID, **values: Any) -> UserRecord:
    """Change profile fields; the version goes up so cached profiles are replaced."""
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(**values, version=User.version + 1, updated_at=func.now())
                    .returning(*_COLUMNS)
                )
            ).one()
    except IntegrityError as error:
        raise DuplicateUser("that phone or email belongs to another user") from error
    user = _record(row)
    changes_of(session.info).profiles[user.id] = user.version
    return user


async def list_contacts(
    session: AsyncSession, owner_id: uuid.UUID, *, limit: int
) -> list[ContactRecord]:
    rows = await session.execute(
        sql(
            "SELECT u.id, u.name, c.paid_as, c.last_paid_at, c.payments FROM contacts c "
            "JOIN users u ON u.id = c.contact_id WHERE c.owner_id = :owner "
            "ORDER BY c.last_paid_at DESC, c.contact_id LIMIT :limit"
        ),
        {"owner": owner_id, "limit": limit},
    )
    return [ContactRecord(*row) for row in rows]


async def contacts_for_users(
    session: AsyncSession, owners: list[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, list[ContactRecord]]:
    """The most recent contacts of many users in one statement (for cache warming)."""
    rows = await session.execute(
        sql(
            "SELECT o.owner, c.* FROM unnest(CAST(:owners AS uuid[])) AS o(owner) "
            "CROSS JOIN LATERAL (SELECT u.id, u.name, k.paid_as, k.last_paid_at, "
            "k.payments FROM contacts k JOIN users u ON u.id = k.contact_id "
            "WHERE k.owner_id = o.owner ORDER BY k.last_paid_at DESC, k.contact_id "
            "LIMIT :limit) c"
        ),
        {"owners": owners, "limit": limit},
    )
    found: dict[uuid.UUID, list[ContactRecord]] = {owner: [] for owner in owners}
    for row in rows:
        found[row[0]].append(ContactRecord(*tuple(row)[1:]))
    return found


async def admins(session: AsyncSession) -> list[UserRecord]:
    rows = await session.execute(select(*_COLUMNS).where(User.is_admin).order_by(User.created_at))
    return [_record(row) for row in rows]


async def is_contact(session: AsyncSession, owner_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    row = await session.execute(
        sql("SELECT 1 FROM contacts WHERE owner_id = :owner AND contact_id = :contact"),
        {"owner": owner_id, "contact": contact_id},
    )
    return row.first() is not None


async def mark_verified(
    session: AsyncSession, user_id: uuid.UUID, channel: str, address: str
) -> UserRecord | None:
    """Record that ``address`` is proven, if it is still the user's address on ``channel``."""
    column, verified = (
        (User.phone, User.phone_verified_at)
        if channel == "phone"
        else (User.email, User.email_verified_at)
    )
    row = (
        await session.execute(
            update(User)
            .where(User.id == user_id, column == address)
            .values(
                {verified: func.now(), User.version: User.version + 1, User.updated_at: func.now()}
            )
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        return None
    user = _record(row)
    changes_of(session.info).profiles[user.id] = user.version
    return user
