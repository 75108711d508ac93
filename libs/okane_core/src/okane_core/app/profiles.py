"""Use cases of people: signing up (a user and their wallet in one unit of work), signing in
with Google, and changing one's profile."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.app.verification import (
    CHANNELS,
    VERIFY,
    Sent,
    address_of,
    code_hash,
    code_matches,
    issue_code,
    mask,
    new_phone_code,
    notify,
    write_or_refuse,
)
from okane_core.errors import AuthenticationFailed, DuplicateUser, UserNotFound
from okane_core.ids import new_id
from okane_core.users import notifications, signups
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


async def request_sign_up(
    okane: Okane, *, name: str, phone: str, email: str | None, password_hash: str
) -> Sent:
    """With contacts to verify: the account is made only when the code sent to the phone
    comes back (:func:`confirm_sign_up`). A phone or email someone already has gets no code;
    its owner is told instead; the answer is the same."""
    display = clean_name(name)
    lifetime = okane.settings.code_lifetime_seconds

    async def work(s: AsyncSession) -> None:
        taken = await _tell_owners(s, phone=phone, email=email)
        if taken is not None:
            return
        request_id = new_id()
        secret = new_phone_code()
        await signups.insert(
            s,
            request_id=request_id,
            name=display,
            phone=phone,
            email=email,
            password_hash=password_hash,
            code_hash=code_hash(request_id, secret),
            lifetime_seconds=lifetime,
        )
        await notifications.enqueue(
            s,
            user_id=None,
            channel="phone",
            address=phone,
            kind="signup_code",
            subject="OKANE code",
            body=f"OKANE: {secret} is your code to open your wallet. It expires in "
            f"{lifetime // 60} minutes. Never share it.",
        )

    await okane.uow.write(work)
    return Sent("phone", mask("phone", phone), lifetime)


async def confirm_sign_up(okane: Okane, *, phone: str, code: str) -> UserRecord:
    """The code of a sign-up: the account and its wallet are made, its phone proven (and a
    link sent to its email). Wrong codes count; a phone with no sign-up waiting is refused
    the same way."""

    async def work(s: AsyncSession) -> UserRecord | None:
        row = await signups.lock_live(s, phone)
        if not await code_matches(s, okane.settings, row, code, signups):
            return None
        assert row is not None
        user = await register_user(
            s,
            okane.ledger,
            name=row.name,
            phone=row.phone,
            email=row.email,
            password_hash=row.password_hash,
        )
        proven = await users.mark_verified(s, user.id, "phone", row.phone)
        assert proven is not None
        if row.email is not None:
            await issue_code(s, okane.settings, proven, purpose=VERIFY, channel="email")
        return proven

    return await write_or_refuse(okane, work)


async def _tell_owners(s: AsyncSession, *, phone: str, email: str | None) -> str | None:
    """Tell the owner of a phone or email someone signs up with; which one was taken."""
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


async def refuse_taken(okane: Okane, *, phone: str, email: str | None) -> None:
    """Refuse a sign-up with a phone or email someone already has, and tell that someone."""

    taken = await okane.uow.write(lambda s: _tell_owners(s, phone=phone, email=email))
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
        # A new address is unproven until its link is opened; the old one is told.
        values = {**changes, "email": new_email, "email_verified_at": None} if moved else changes
        user = await users.update_user(s, user_id, **values)
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
