"""Registering users: a user and their wallet are created in the same unit of work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import InvalidRequest
from okane_core.ids import new_id
from okane_core.ledger.book import Ledger
from okane_core.ledger.wallets import open_wallet
from okane_core.users import repository as repo
from okane_core.users.domain import clean_name, normalize_email, normalize_phone
from okane_core.users.views import UserRecord


async def register_user(
    session: AsyncSession,
    ledger: Ledger,
    *,
    name: str,
    phone: str | None,
    email: str | None,
    password_hash: str | None = None,
    google_subject: str | None = None,
) -> UserRecord:
    """Create a user with an empty wallet (plus any configured welcome credit)."""
    if phone is None and email is None:
        raise InvalidRequest("a phone number or an email address is required", field="phone")
    user = await repo.insert_user(
        session,
        id=new_id(),
        name=clean_name(name),
        phone=None if phone is None else normalize_phone(phone),
        email=None if email is None else normalize_email(email),
        password_hash=password_hash,
        google_subject=google_subject,
    )
    await open_wallet(ledger, session, user.id)
    return user
