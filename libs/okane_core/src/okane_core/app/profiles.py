"""Use cases of people: signing up (a user and their wallet in one unit of work), signing in
with Google, and changing one's profile."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.app.verification import CHANNELS, VERIFY, address_of, issue_code, notify
from okane_core.errors import AuthenticationFailed, DuplicateUser, UserNotFound
from okane_core.users import notifications
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
    """A user, their wallet, and the codes that prove their phone (and email), sent."""

    async def work(s: AsyncSession) -> UserRecord:
        user = await register_user(
            s, okane.ledger, name=name, phone=phone, email=email, password_hash=password_hash
        )
        for channel in CHANNELS:
            if address_of(user, channel) is not None:
                await issue_code(s, okane.settings, user, purpose=VERIFY, channel=channel)
        return user

    return await okane.uow.write(work)


async def refuse_taken(okane: Okane, *, phone: str, email: str | None) -> None:
    """Refuse a sign-up with a phone or email someone already has, and tell that someone."""

    async def work(s: AsyncSession) -> str | None:
        for by, value in (("phone", phone), ("email", email)):
            owner = None if value is None else await users.find_user(s, by, value)
            if owner is not None:
                await notify(
                    s,
                    owner,
                    kind="signup_attempt",
                    subject="Someone tried to sign up with your details",
                    body=f"Someone tried to create an OKANE account with your {by}. Your "
                    "wallet is unchanged; if it was you, log in or reset your password.",
                )
                return by
        return None

    taken = await okane.uow.write(work)
    if taken is not None:
        raise DuplicateUser(f"a user with this {taken} already exists", field=taken)


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
                if not existing.email_verified:
                    # Whoever set this email on the account never proved it: linking would
                    # hand the account to them, or the email's owner to it.
                    raise DuplicateUser(
                        "an OKANE account already uses this email but has not verified it; "
                        "sign in with its password and verify the email first",
                        field="email",
                    )
                return await users.update_user(s, existing.id, google_subject=subject)
        if email is None:
            raise AuthenticationFailed("a verified email is needed to create an account")
        user = await register_user(
            s,
            okane.ledger,
            name=name,
            phone=None,
            email=email,
            google_subject=subject,
        )
        proven = await users.mark_verified(s, user.id, "email", email)  # Google proved it
        assert proven is not None
        return proven

    return await okane.uow.write(find_or_create)


async def update_profile(
    okane: Okane, user_id: uuid.UUID, *, name: str | None, email: str | None
) -> UserRecord:
    """Change the name and/or email; with neither, the profile as it is."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    new_email = None if email is None else normalize_email(email)
    if not changes and new_email is None:
        return await okane.cache.reads.profile(user_id)

    async def work(s: AsyncSession) -> UserRecord:
        before = await users.get_user(s, user_id)
        if before is None:
            raise UserNotFound("no such user")
        moved = new_email is not None and new_email != before.email
        if moved:
            # A new address is unproven until its link is opened; the old one is told.
            changes.update(email=new_email, email_verified_at=None)
        user = await users.update_user(s, user_id, **changes)
        if moved:
            await issue_code(s, okane.settings, user, purpose=VERIFY, channel="email")
            if before.email is not None:
                await notifications.enqueue(
                    s,
                    user_id=user.id,
                    channel="email",
                    address=before.email,
                    kind="email_changed",
                    subject="Your OKANE email was changed",
                    body=f"The email of your OKANE wallet was changed to {new_email}. If this "
                    "was not you, reset your password now and contact support.",
                )
        return user

    return await okane.uow.write(work)
