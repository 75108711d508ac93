"""The identity use cases in one process against the real PostgreSQL: codes (tries, expiry by
replacement, single use), proven addresses, sign-up by code, passwords, step-up, admin roles
and maker-checker, and the notification dispatcher's at-least-once delivery."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.app import admin, credentials, logins, profiles, reads, verification
from okane_core.app.context import Okane, build_okane
from okane_core.app.notifications import MailboxSender, deliver_pending
from okane_core.cache.client import create_redis
from okane_core.errors import (
    AlreadyDecided,
    AlreadyVerified,
    DuplicateUser,
    InvalidCode,
    NothingToVerify,
    OwnTransaction,
    SecondAdminRequired,
)
from okane_core.ledger import transfers
from okane_core.localstack import Endpoints
from okane_core.settings import Settings
from okane_core.users.notifications import NotificationRecord
from okane_core.users.views import UserRecord
from tests.factories import fund, next_phone

HASH = "$argon2id$not-checked-here"


@pytest.fixture
async def okane(
    settings: Settings, engine: AsyncEngine, endpoints: Endpoints
) -> AsyncIterator[Okane]:
    redis = create_redis(endpoints.redis_url)
    context = build_okane(settings.model_copy(update={"code_attempts": 2}), engine, redis)
    await context.start()
    yield context
    await context.close()
    await redis.aclose()


async def code_sent_to(okane: Okane, address: str, kind: str) -> str:
    for message in await reads.notifications(okane.uow, address=address, limit=20):
        if message.kind == kind:
            pattern = r"([0-9a-f]{32}\.[\w-]+)" if "@" in address else r"\b([0-9]{6})\b"
            found = re.search(pattern, message.body)
            assert found is not None
            return found.group(1)
    raise AssertionError(f"no {kind} to {address}")


async def signed_up(okane: Okane, name: str, email: str | None = None) -> UserRecord:
    phone = next_phone()
    await profiles.request_sign_up(okane, name=name, phone=phone, email=email, password_hash=HASH)
    code = await code_sent_to(okane, phone, "signup_code")
    return await profiles.confirm_sign_up(okane, phone=phone, code=code)


async def test_sign_up_by_code_and_proving_an_email(okane: Okane) -> None:
    tag = uuid.uuid4().hex[:8]
    user = await signed_up(okane, "Asha", email=f"asha-{tag}@example.com")
    assert (user.phone_verified, user.email_verified) == (True, False)
    assert user.phone is not None and user.email is not None
    with pytest.raises(AlreadyVerified):
        await verification.send_verification(okane, user.id, "phone")
    with pytest.raises(InvalidCode):
        await verification.confirm_email_link(okane, "not-a-token")
    token = await code_sent_to(okane, user.email, "verify_code")
    with pytest.raises(InvalidCode):  # another user's session cannot use it
        await verification.confirm_verification(okane, uuid.uuid4(), "email", token)
    proven = await verification.confirm_verification(okane, user.id, "email", token)
    assert proven.email_verified
    # The same phone again: no code, the owner told, the same answer.
    sent = await profiles.request_sign_up(
        okane, name="Copy", phone=user.phone, email=None, password_hash=HASH
    )
    assert sent.masked.endswith(user.phone[-4:])
    kinds = [n.kind for n in await reads.notifications(okane.uow, address=user.phone, limit=20)]
    assert kinds.count("signup_code") == 1 and "signup_attempt" in kinds
    with pytest.raises(DuplicateUser):
        await profiles.refuse_taken(okane, phone=user.phone, email=None)

    googled = await profiles.google_user(okane, subject=f"g-{tag}", email=user.email, name="Asha")
    assert googled.id == user.id  # a proven email links


async def test_a_code_dies_after_its_tries_and_a_new_one_replaces_it(okane: Okane) -> None:
    phone = next_phone()
    await profiles.request_sign_up(okane, name="Guess", phone=phone, email=None, password_hash=HASH)
    first = await code_sent_to(okane, phone, "signup_code")
    wrong = f"{(int(first) + 1) % 10**6:06d}"
    for _ in range(2):
        with pytest.raises(InvalidCode):
            await profiles.confirm_sign_up(okane, phone=phone, code=wrong)
    with pytest.raises(InvalidCode):
        await profiles.confirm_sign_up(okane, phone=phone, code=first)
    await profiles.request_sign_up(okane, name="Guess", phone=phone, email=None, password_hash=HASH)
    second = await code_sent_to(okane, phone, "signup_code")
    user = await profiles.confirm_sign_up(okane, phone=phone, code=second)
    with pytest.raises(NothingToVerify):
        await verification.send_verification(okane, user.id, "email")
    changed = await profiles.update_profile(okane, user.id, name=None, email=f"{user.id}@ex.com")
    assert changed.email_verified is False


async def test_passwords_and_step_up(okane: Okane) -> None:
    user = await signed_up(okane, "Ravi")
    assert user.phone is not None
    keep, other = uuid.uuid4(), uuid.uuid4()
    for session_id in (keep, other):
        await logins.open_session(
            okane.uow,
            session_id=session_id,
            user_id=user.id,
            credential_hash=uuid.uuid4().bytes,
            method="password",
            lifetime_seconds=3600,
        )
    ended = await credentials.change_password(okane, user.id, HASH, keep=keep)
    assert ended.sessions == [other]
    assert await logins.is_active(okane.uow, keep)

    await credentials.start_reset(okane, "phone", user.phone)
    await credentials.start_reset(okane, "phone", next_phone())  # nobody: nothing, no error
    code = await code_sent_to(okane, user.phone, "password_reset_code")
    with pytest.raises(InvalidCode):
        await credentials.finish_reset(okane, "phone", next_phone(), code, HASH)
    done = await credentials.finish_reset(okane, "phone", user.phone, code, HASH)
    assert done.sessions == [keep]

    assert not await credentials.use_step_up(okane, "phone", user.phone, "123456")
    await credentials.start_step_up(okane, "phone", user.phone)
    step = await code_sent_to(okane, user.phone, "step_up_code")
    assert await credentials.use_step_up(okane, "phone", user.phone, step)
    assert not await credentials.use_step_up(okane, "phone", user.phone, step)  # used


async def test_admin_roles_and_maker_checker(okane: Okane) -> None:
    alice, bob = await signed_up(okane, "Alice"), await signed_up(okane, "Bob")
    carol, dave = await signed_up(okane, "Carol"), await signed_up(okane, "Dave")
    for person in (alice, bob):
        granted = await admin.set_role(okane, person.id.hex, admin=True, actor="cli:test")
        assert granted.is_admin and await admin.is_admin(okane, person.id)
    assert {u.id for u in await admin.admins(okane)} >= {alice.id, bob.id}
    unproven = (
        await profiles.google_user(okane, subject=uuid.uuid4().hex, email=None, name="X")
        if False
        else None
    )
    assert unproven is None
    await fund(okane.uow.sessions, okane.ledger, carol.id, 1_000)
    (outcome,) = await okane.uow.write(
        lambda s: transfers.apply(
            okane.ledger,
            s,
            [
                transfers.prepare(
                    okane.ledger,
                    user_id=carol.id,
                    to=str(dave.id),
                    amount=600,
                    note=None,
                    idempotency_key=uuid.uuid4().hex,
                )
            ],
        )
    )
    view, _ = outcome.result()
    request = await admin.request_reversal(
        okane, admin_id=alice.id, transaction_id=view.id, note="complaint"
    )
    with pytest.raises(SecondAdminRequired):
        await admin.decide(okane, admin_id=alice.id, request_id=request.id, approve=True)
    with pytest.raises(OwnTransaction):
        await admin.request_reversal(okane, admin_id=dave.id, transaction_id=view.id, note=None)
    approved = await admin.decide(okane, admin_id=bob.id, request_id=request.id, approve=True)
    assert approved.status == "approved" and approved.result_id is not None
    with pytest.raises(AlreadyDecided):
        await admin.decide(okane, admin_id=bob.id, request_id=request.id, approve=False)
    assert [r.id for r in await admin.list_requests(okane, status="approved", limit=10)] == [
        request.id
    ]
    acts = [e.action for e in await admin.audit_entries(okane, limit=10)]
    assert acts[:2] == ["reversal.approved", "reversal.requested"]
    revoked = await admin.set_role(okane, bob.id.hex, admin=False, actor="cli:test")
    assert not revoked.is_admin and not await admin.is_admin(okane, bob.id)


async def test_the_dispatcher_sends_each_notification_until_it_is_taken(okane: Okane) -> None:
    class FlakyGateway:
        """Refuses its first delivery, as a gateway that is away for a moment."""

        def __init__(self) -> None:
            self.sent: list[int] = []
            self.refused = 0

        async def send(self, notification: NotificationRecord) -> None:
            if not self.refused:
                self.refused += 1
                raise ConnectionError("gateway away")
            self.sent.append(notification.id)

    await signed_up(okane, "Meera")
    gateway = FlakyGateway()
    await deliver_pending(okane.uow, gateway)  # the first is refused and counted
    while await deliver_pending(okane.uow, gateway) > 0:
        pass
    assert gateway.refused == 1 and len(gateway.sent) == len(set(gateway.sent)) > 0
    assert await deliver_pending(okane.uow, MailboxSender()) == 0  # nothing left unsent
