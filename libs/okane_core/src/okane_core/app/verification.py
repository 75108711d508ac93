"""Use cases of proven contact points: one-time codes sent to a phone (six digits) or an email
(a link with a long secret), and what a correct code proves. Codes are stored as hashes, expire,
are tried at most ``code_attempts`` times and work once; each message goes through the
notification outbox in the transaction that creates its code."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.errors import AlreadyVerified, InvalidCode, NothingToVerify, UserNotFound
from okane_core.ids import new_id
from okane_core.settings import Settings
from okane_core.users import codes, notifications
from okane_core.users import repository as users
from okane_core.users.codes import CodeRow
from okane_core.users.views import UserRecord

T = TypeVar("T")

VERIFY = "verify"
RESET = "password_reset"  # the purpose of a code that sets a new password
STEP_UP = "step_up"  # the purpose of a code that signs in from a new address under attack
CHANNELS = ("phone", "email")


def code_hash(code_id: uuid.UUID, secret: str) -> bytes:
    return hashlib.sha256(code_id.bytes + secret.encode()).digest()


def new_phone_code() -> str:
    """Six digits for an SMS."""
    return f"{secrets.randbelow(10**6):06d}"


def mask(channel: str, address: str) -> str:
    """What a screen may show of an address: ``+91******3210``, ``a***@example.com``."""
    if channel == "phone":
        return address[:3] + "*" * max(len(address) - 7, 0) + address[-4:]
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def address_of(user: UserRecord, channel: str) -> str | None:
    return user.phone if channel == "phone" else user.email


@dataclass(frozen=True, slots=True)
class Sent:
    channel: str
    masked: str
    expires_in: int


async def issue_code(
    s: AsyncSession,
    settings: Settings,
    user: UserRecord,
    *,
    purpose: str,
    channel: str,
) -> Sent:
    """Create a code for ``user``'s address on ``channel`` and queue its message, in the
    caller's transaction."""
    address = address_of(user, channel)
    if address is None:
        raise NothingToVerify(f"there is no {channel} on this account", field="channel")
    code_id = new_id()
    lifetime = settings.code_lifetime_seconds
    minutes = lifetime // 60
    if channel == "phone":
        secret = new_phone_code()
        doing = {VERIFY: "verify your phone", RESET: "reset your password"}.get(
            purpose, "sign in from a new device"
        )
        subject = "OKANE code"
        body = (
            f"OKANE: {secret} is your code to {doing}. It expires in {minutes} minutes. "
            "Never share it: OKANE staff will never ask for it."
        )
    else:
        secret = secrets.token_urlsafe(24)
        token = f"{code_id.hex}.{secret}"
        if purpose == VERIFY:
            link = f"{settings.public_url.rstrip('/')}/verify-email?token={token}"
            subject = "Confirm your email for OKANE"
            body = f"Open this link to confirm {address} for your OKANE wallet:\n{link}\n"
        elif purpose == RESET:
            subject = "Reset your OKANE password"
            body = f"Your OKANE password reset code is:\n{token}\n"
        else:
            subject = "Your OKANE sign-in code"
            body = f"Your code to sign in to OKANE from a new device is:\n{token}\n"
        body += f"It expires in {minutes} minutes. If you did not ask for it, ignore this."
    await codes.insert(
        s,
        code_id=code_id,
        user_id=user.id,
        purpose=purpose,
        channel=channel,
        address=address,
        code_hash=code_hash(code_id, secret),
        lifetime_seconds=lifetime,
    )
    await notifications.enqueue(
        s,
        user_id=user.id,
        channel=channel,
        address=address,
        kind=f"{purpose}_code",
        subject=subject,
        body=body,
    )
    return Sent(channel, mask(channel, address), lifetime)


async def notify(s: AsyncSession, user: UserRecord, *, kind: str, subject: str, body: str) -> None:
    """A security notice to every proven address of ``user`` (to its phone, else its email,
    when none is proven yet)."""
    targets = [c for c in CHANNELS if user.verified(c) and address_of(user, c)]
    if not targets:
        targets = [c for c in CHANNELS if address_of(user, c)][:1]
    for channel in targets:
        address = address_of(user, channel)
        assert address is not None
        await notifications.enqueue(
            s,
            user_id=user.id,
            channel=channel,
            address=address,
            kind=kind,
            subject=subject,
            body=body,
        )


class StoredCode(Protocol):
    """A code as stored: one-time codes and sign-ups waiting for theirs alike."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def code_hash(self) -> bytes: ...
    @property
    def attempts(self) -> int: ...


class CodeStore(Protocol):
    """Where a code's tries and use are written (``users.codes``, ``users.signups``)."""

    async def count_attempt(self, session: AsyncSession, code_id: uuid.UUID) -> None: ...
    async def use(self, session: AsyncSession, code_id: uuid.UUID) -> None: ...


async def code_matches(
    s: AsyncSession,
    settings: Settings,
    row: StoredCode | None,
    secret: str,
    store: CodeStore = codes,
) -> bool:
    """Whether ``secret`` is the code of ``row``: a try counts either way (the caller commits
    it before refusing), a code tried too often never works again, a matching one is used."""
    if row is None:
        return False
    if row.attempts >= settings.code_attempts:
        await store.use(s, row.id)
        return False
    await store.count_attempt(s, row.id)
    if not hmac.compare_digest(row.code_hash, code_hash(row.id, secret.strip())):
        return False
    await store.use(s, row.id)
    return True


def secret_of(row: CodeRow | None, code: str) -> str:
    """What to check of what the person typed: the six digits of an SMS, or the secret of an
    emailed token ``<code id>.<secret>`` (another code's token is a wrong try)."""
    if row is None or row.channel != "email":
        return code
    token_id, _, secret = code.partition(".")
    return secret if token_id == row.id.hex else ""


def refused() -> InvalidCode:
    return InvalidCode("the code is wrong, used or expired; ask for a new one", field="code")


async def write_or_refuse(okane: Okane, work: Callable[[AsyncSession], Awaitable[T | None]]) -> T:
    """Run ``work``; None means the code did not match, which is refused only after the
    counted attempt has committed."""
    result = await okane.uow.write(work)
    if result is None:
        raise refused()
    return result


async def send_verification(okane: Okane, user_id: uuid.UUID, channel: str) -> Sent:
    async def work(s: AsyncSession) -> Sent:
        user = await users.get_user(s, user_id)
        if user is None:
            raise UserNotFound("no such user")
        if user.verified(channel):
            raise AlreadyVerified(f"your {channel} is already verified", field="channel")
        return await issue_code(s, okane.settings, user, purpose=VERIFY, channel=channel)

    return await okane.uow.write(work)


async def _prove(s: AsyncSession, row: CodeRow) -> UserRecord | None:
    """The user, its address proven; None if the address changed since the code was sent."""
    return await users.mark_verified(s, row.user_id, row.channel, row.address)


async def confirm_verification(
    okane: Okane, user_id: uuid.UUID, channel: str, code: str
) -> UserRecord:
    """A signed-in user enters the code sent to their phone (or the email link's token)."""
    token_id, _, secret = code.partition(".")
    if channel == "email" and secret:
        return await confirm_email_link(okane, code, user_id=user_id)

    async def work(s: AsyncSession) -> UserRecord | None:
        row = await codes.lock_live(s, user_id=user_id, purpose=VERIFY, channel=channel)
        if not await code_matches(s, okane.settings, row, token_id):
            return None
        assert row is not None
        return await _prove(s, row)

    return await write_or_refuse(okane, work)


async def confirm_email_link(
    okane: Okane, token: str, *, user_id: uuid.UUID | None = None
) -> UserRecord:
    """The link of a verification email: its token names the code and carries its secret."""
    raw_id, _, secret = token.partition(".")
    try:
        code_id = uuid.UUID(hex=raw_id)
    except ValueError:
        raise refused() from None

    async def work(s: AsyncSession) -> UserRecord | None:
        row = await codes.lock_by_id(s, code_id, VERIFY)
        if row is not None and (row.channel != "email" or user_id not in (None, row.user_id)):
            row = None
        if not await code_matches(s, okane.settings, row, secret):
            return None
        assert row is not None
        return await _prove(s, row)

    return await write_or_refuse(okane, work)
