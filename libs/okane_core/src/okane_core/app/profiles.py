"""Use cases of people: signing up (a user and their wallet in one unit of work), signing in
with Google, and changing one's profile."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.errors import AuthenticationFailed, DuplicateUser
from okane_core.users import repository as users
from okane_core.users.domain import clean_name, normalize_email
from okane_core.users.service import register_user
from okane_core.users.views import UserRecord


async def sign_up(
    okane: Okane,
    *,
    name: str,
    phone: str,
    email: str | None,
    password_hash: str,
) -> UserRecord:
    return await okane.uow.write(
        lambda s: register_user(
            s,
            okane.ledger,
            name=name,
            phone=phone,
            email=email,
            password_hash=password_hash,
        )
    )


async def google_user(okane: Okane, *, subject: str, email: str | None, name: str) -> UserRecord:
    """The user of a verified Google identity: found by subject, linked by a verified email,
    or created with a wallet on first sign-in."""

    async def find_or_create(s: AsyncSession) -> UserRecord:
        user = await users.find_user(s, "google_subject", subject)
        if user is not None:
            return user
        if email is not None:
            existing = await users.find_user(s, "email", email)
            if existing is not None:
                if existing.google_subject is not None:
                    raise DuplicateUser("this email belongs to another Google account")
                return await users.update_user(s, existing.id, google_subject=subject)
        if email is None:
            raise AuthenticationFailed("a verified email is needed to create an account")
        return await register_user(
            s,
            okane.ledger,
            name=name,
            phone=None,
            email=email,
            google_subject=subject,
        )

    return await okane.uow.write(find_or_create)


async def update_profile(
    okane: Okane, user_id: uuid.UUID, *, name: str | None, email: str | None
) -> UserRecord:
    """Change the name and/or email; with neither, the profile as it is."""
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if email is not None:
        changes["email"] = normalize_email(email)
    if not changes:
        return await okane.cache.reads.profile(user_id)
    return await okane.uow.write(lambda s: users.update_user(s, user_id, **changes))
