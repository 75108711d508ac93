"""Helpers that build ledger state through the real operations (never by writing rows)."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import topups
from okane_core.ledger.bank import apply_bank_event
from okane_core.ledger.book import Ledger
from okane_core.users import repository as users
from okane_core.users.service import register_user
from okane_core.users.views import UserRecord

_phones = itertools.count(9000000000)


def next_phone() -> str:
    return f"+91{next(_phones)}"


async def make_user(
    sessions: SessionFactory, ledger: Ledger, *, name: str = "Asha", email: str | None = None
) -> UserRecord:
    """A user whose phone (and email) are verified, as after sign-up and its codes."""

    async def work(s: AsyncSession) -> UserRecord:
        user = await register_user(s, ledger, name=name, phone=next_phone(), email=email)
        assert user.phone is not None
        proven = await users.mark_verified(s, user.id, "phone", user.phone)
        if email is not None:
            proven = await users.mark_verified(s, user.id, "email", email.lower())
        assert proven is not None
        return proven

    return await run_in_transaction(sessions, work)


async def fund(sessions: SessionFactory, ledger: Ledger, user_id: uuid.UUID, amount: int) -> None:
    """Top up ``amount`` paise and settle it as the bank would."""
    key = uuid.uuid4().hex
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(
            ledger, s, user_id=user_id, amount=amount, idempotency_key=key
        ),
    )
    assert view.reference is not None
    reference = view.reference
    result = await run_in_transaction(
        sessions,
        lambda s: apply_bank_event(
            s,
            event_id=f"evt_{uuid.uuid4().hex}",
            event_type="topup.succeeded",
            reference=reference,
            amount=amount,
        ),
    )
    assert result.outcome == "applied", result.response
