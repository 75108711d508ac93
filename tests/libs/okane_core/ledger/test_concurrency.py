"""Lock paths under real concurrent connections (two or more sessions at once)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from okane_core.db.engine import (
    SessionFactory,
    create_engine,
    create_session_factory,
    run_in_transaction,
)
from okane_core.errors import LockTimeout
from okane_core.ledger import topups, transfers, wallets
from okane_core.ledger.bank import apply_bank_event
from okane_core.ledger.book import Ledger
from okane_core.ledger.reconcile import reconcile
from okane_core.settings import Settings
from tests.factories import fund, make_user


@asynccontextmanager
async def holding(engine: AsyncEngine, sql: str, params: dict[str, object]) -> AsyncIterator[None]:
    """Hold row locks in a separate connection until the block ends."""
    async with AsyncSession(engine) as blocker, blocker.begin():
        await blocker.execute(text(sql), params)
        yield


async def wallet_account(sessions: SessionFactory, ledger: Ledger, user_id: uuid.UUID) -> int:
    async with sessions() as s:
        return (await wallets.wallet(s, user_id)).account_id


async def test_concurrent_settlements_of_one_topup_credit_once(
    engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=1_234, idempotency_key="t"),
    )
    reference = view.reference
    assert reference is not None

    async def settle(i: int) -> str:
        result = await run_in_transaction(
            sessions,
            lambda s: apply_bank_event(
                s,
                event_id=f"evt-{i}",
                event_type="topup.succeeded",
                reference=reference,
                amount=1_234,
            ),
        )
        return result.outcome

    # Hold the top-up's row so every settlement is in flight, queued on the lock, at once.
    async with holding(
        engine, "SELECT 1 FROM transactions WHERE id = :id FOR UPDATE", {"id": view.id}
    ):
        tasks = [asyncio.create_task(settle(i)) for i in range(8)]
        await asyncio.sleep(0.3)
        assert not any(task.done() for task in tasks)
    outcomes = await asyncio.gather(*tasks)
    assert sorted(outcomes) == ["already_settled"] * 7 + ["applied"]
    async with sessions() as s:
        assert (await wallets.wallet(s, user.id)).available == 1_234


async def test_concurrent_deliveries_of_one_event_have_one_effect(
    engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=500, idempotency_key="t"),
    )
    reference = view.reference
    assert reference is not None

    async def deliver() -> dict[str, object]:
        result = await run_in_transaction(
            sessions,
            lambda s: apply_bank_event(
                s,
                event_id="evt-same",
                event_type="topup.succeeded",
                reference=reference,
                amount=500,
            ),
        )
        return result.response

    async with holding(
        engine, "SELECT 1 FROM transactions WHERE id = :id FOR UPDATE", {"id": view.id}
    ):
        tasks = [asyncio.create_task(deliver()) for _ in range(6)]
        await asyncio.sleep(0.3)
    answers = await asyncio.gather(*tasks)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["outcome"] == "applied"
    async with sessions() as s:
        assert (await wallets.wallet(s, user.id)).available == 500


async def test_concurrent_requests_with_one_idempotency_key_pay_once(
    engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    sender = await wallet_account(sessions, ledger, asha.id)

    async def pay() -> uuid.UUID:
        view, _ = await run_in_transaction(
            sessions,
            lambda s: transfers.transfer(
                ledger, s, user_id=asha.id, to=str(ravi.id), amount=100, idempotency_key="once"
            ),
        )
        return view.id

    async with holding(engine, "SELECT 1 FROM accounts WHERE id = :id FOR UPDATE", {"id": sender}):
        tasks = [asyncio.create_task(pay()) for _ in range(6)]
        await asyncio.sleep(0.3)
    ids = await asyncio.gather(*tasks)
    assert len(set(ids)) == 1
    async with sessions() as s:
        assert (await wallets.wallet(s, asha.id)).available == 900


async def test_a_stuck_lock_fails_fast_instead_of_hanging(
    settings: Settings, sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    sender = await wallet_account(sessions, ledger, asha.id)
    impatient = settings.model_copy(update={"lock_timeout_ms": 200})
    assert impatient.database_url is not None
    fast_engine = create_engine(impatient, impatient.database_url)
    try:
        fast = create_session_factory(fast_engine)
        async with holding(
            fast_engine, "SELECT 1 FROM accounts WHERE id = :id FOR UPDATE", {"id": sender}
        ):
            started = time.monotonic()
            with pytest.raises(LockTimeout):
                await run_in_transaction(
                    fast,
                    lambda s: transfers.transfer(
                        ledger, s, user_id=asha.id, to=str(ravi.id), amount=100, idempotency_key="x"
                    ),
                )
            waited = time.monotonic() - started
    finally:
        await fast_engine.dispose()
    # Bounded by lock_timeout, not by the blocker: the blocker never let go during the wait.
    assert waited < 5
    async with sessions() as s:
        assert (await wallets.wallet(s, asha.id)).available == 1_000


async def test_opposite_transfers_do_not_deadlock(sessions: SessionFactory, ledger: Ledger) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 100_000)
    await fund(sessions, ledger, ravi.id, 100_000)

    async def pay(sender: uuid.UUID, to: uuid.UUID, n: int) -> None:
        for _ in range(n):
            await run_in_transaction(
                sessions,
                lambda s: transfers.transfer(
                    ledger,
                    s,
                    user_id=sender,
                    to=str(to),
                    amount=7,
                    idempotency_key=uuid.uuid4().hex,
                ),
                max_retries=0,  # a deadlock would surface here instead of being retried
            )

    await asyncio.gather(
        *(pay(asha.id, ravi.id, 25) for _ in range(4)),
        *(pay(ravi.id, asha.id, 25) for _ in range(4)),
    )
    async with sessions() as s:
        total = (await wallets.wallet(s, asha.id)).available + (
            await wallets.wallet(s, ravi.id)
        ).available
    assert total == 200_000
    async with sessions() as s, s.begin():
        assert (await reconcile(s)).violations == []
