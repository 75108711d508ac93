"""Batched transfers on a real PostgreSQL: concurrent requests of one process leave together,
each gets its own outcome, and a batch that meets a problem fails only the transfer that met it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from okane_core.app import transfers
from okane_core.app.context import Okane, build_okane
from okane_core.cache.client import create_redis
from okane_core.db.engine import SessionFactory, create_engine, run_in_transaction
from okane_core.errors import LockTimeout, OkaneError, RecipientNotFound, SelfTransfer
from okane_core.ledger import transfers as ledger_transfers
from okane_core.ledger import wallets
from okane_core.ledger.book import Ledger
from okane_core.ledger.reconcile import reconcile
from okane_core.ledger.repository.accounts import wallets_of_users as wallets_of
from okane_core.localstack import Endpoints
from okane_core.observability import metrics
from okane_core.settings import Settings, load_settings
from okane_core.users.views import UserRecord
from tests.factories import fund, make_user


@pytest.fixture
async def redis(endpoints: Endpoints) -> AsyncIterator[Redis]:
    client = create_redis(endpoints.redis_url.rsplit("/", 1)[0] + "/7")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def _okane(settings: Settings, redis: Redis) -> tuple[Okane, AsyncEngine]:
    assert settings.database_url is not None
    engine = create_engine(settings, settings.database_url, application_name="okane-batch-tests")
    return build_okane(settings, engine, redis), engine


@pytest.fixture
async def okane(settings: Settings, redis: Redis) -> AsyncIterator[Okane]:
    quick = load_settings(
        database_url=settings.database_url, redis_url=settings.redis_url, lock_timeout_ms=300
    )
    built, engine = await _okane(quick, redis)
    yield built
    await built.close()
    await engine.dispose()


def batches_sent() -> float:
    return sum(
        sample.value
        for family in metrics.BATCH_SIZE.collect()
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels.get("kind") == "transfers"
    )


async def pay(okane: Okane, payer: UserRecord, to: str, amount: int, key: str | None = None):
    try:
        return await transfers.transfer(
            okane,
            user_id=payer.id,
            to=to,
            amount=amount,
            note=None,
            idempotency_key=key or uuid.uuid4().hex,
        )
    except OkaneError as error:
        return error


async def balances(sessions: SessionFactory, *people: UserRecord) -> list[int]:
    async with sessions() as s:
        return [(await wallets.wallet(s, p.id)).available for p in people]


async def assert_reconciled(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        assert (await reconcile(s)).violations == []


async def test_concurrent_transfers_leave_in_one_batch_with_their_own_outcomes(
    okane: Okane, sessions: SessionFactory, ledger: Ledger
) -> None:
    asha, ravi, meera = [await make_user(sessions, ledger, name=n) for n in ("A", "R", "M")]
    await fund(sessions, ledger, asha.id, 1_000)
    await fund(sessions, ledger, ravi.id, 1_000)
    before = batches_sent()
    results = await asyncio.gather(
        pay(okane, asha, ravi.phone or "", 300),  # opposite transfers in one batch
        pay(okane, ravi, asha.phone or "", 200),
        pay(okane, asha, "+919999999999", 10),  # nobody: refused in the middle of the batch
        pay(okane, asha, asha.phone or "", 10),  # oneself: refused
        pay(okane, meera, asha.phone or "", 50),  # no money: a recorded failure
        pay(okane, asha, meera.phone or "", 100),
    )
    assert batches_sent() - before == 1  # all six in one statement, one commit
    assert isinstance(results[2], RecipientNotFound)
    assert isinstance(results[3], SelfTransfer)
    done = [r for r in results if not isinstance(r, OkaneError)]
    assert [view.status for view, _ in done] == ["success", "success", "failure", "success"]
    assert done[2][0].failure_reason == "insufficient_funds"
    assert len({view.created_at for view, _ in done}) == 1  # one database transaction
    assert await balances(sessions, asha, ravi, meera) == [800, 1_100, 100]
    await assert_reconciled(sessions)


async def outbox_versions(sessions: SessionFactory, user: UserRecord) -> list[int]:
    async with sessions() as s:
        rows = await s.execute(
            text("SELECT version FROM cache_outbox WHERE user_id = :u AND kind = 'wallet'"),
            {"u": user.id},
        )
        return sorted(int(v) for (v,) in rows)


async def test_a_batch_writes_each_wallet_once_and_the_next_deletes_what_redis_confirmed(
    okane: Okane, sessions: SessionFactory, ledger: Ledger
) -> None:
    asha, ravi, meera = [await make_user(sessions, ledger, name=n) for n in ("A", "R", "M")]
    await fund(sessions, ledger, asha.id, 1_000)
    async with sessions() as s:
        start = (await wallets.wallet(s, asha.id)).version
        await s.execute(text("DELETE FROM cache_outbox"))
        await s.commit()
    # Asha pays three times in one batch: one new version of her wallet, one outbox row.
    await asyncio.gather(*(pay(okane, asha, ravi.phone or "", 100) for _ in range(3)))
    async with sessions() as s:
        assert (await wallets.wallet(s, asha.id)).version == start + 1
    assert await outbox_versions(sessions, asha) == [start + 1]
    # Redis confirmed that batch's tombstones: the next batch deletes its rows, and only its.
    await pay(okane, meera, asha.phone or "", 1)  # Meera has nothing: a recorded failure
    assert await outbox_versions(sessions, asha) == []
    assert await outbox_versions(sessions, ravi) == []
    assert len(await outbox_versions(sessions, meera)) == 1  # until a later batch
    assert await balances(sessions, asha, ravi, meera) == [700, 300, 0]
    await assert_reconciled(sessions)


async def test_a_replay_reports_the_invalidations_its_original_left_pending(
    okane: Okane, sessions: SessionFactory, ledger: Ledger
) -> None:
    """What the caller waits for before a replayed answer leaves (its original's writer may
    have died after COMMIT): reported by the function in the same round trip."""
    asha, ravi = await make_user(sessions, ledger), await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    paid = await pay(okane, asha, ravi.phone or "", 100, key="once")
    assert not isinstance(paid, OkaneError)
    request = ledger_transfers.prepare(
        ledger, user_id=asha.id, to=ravi.phone or "", amount=100, note=None, idempotency_key="once"
    )

    async def replay() -> ledger_transfers.TransferOutcome:
        (outcome,) = await run_in_transaction(
            sessions, lambda s: ledger_transfers.apply(ledger, s, [request])
        )
        assert outcome.replayed and outcome.view is not None
        assert outcome.view.id == paid[0].id
        return outcome

    async with sessions() as s:
        versions = {w.user_id: w.version for w in await wallets_of(s, [asha.id, ravi.id])}
    pending = (await replay()).pending  # no later batch has deleted the original's rows
    assert {(user, kind, version) for user, kind, version in pending if kind == "wallet"} == {
        (asha.id, "wallet", versions[asha.id]),
        (ravi.id, "wallet", versions[ravi.id]),
    }
    async with sessions() as s:
        await s.execute(text("DELETE FROM cache_outbox"))
        await s.commit()
    assert (await replay()).pending == ()
    assert await balances(sessions, asha, ravi) == [900, 100]


async def test_one_key_twice_in_a_batch_moves_money_once(
    okane: Okane, sessions: SessionFactory, ledger: Ledger
) -> None:
    asha, ravi = await make_user(sessions, ledger), await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    first, second, other = await asyncio.gather(
        pay(okane, asha, ravi.phone or "", 400, key="same"),
        pay(okane, asha, ravi.phone or "", 400, key="same"),
        pay(okane, asha, ravi.phone or "", 401, key="same"),  # same key, another request
    )
    assert not isinstance(first, OkaneError) and not isinstance(second, OkaneError)
    assert first[0].id == second[0].id
    assert (first[1], second[1]) == (False, True)
    assert isinstance(other, OkaneError) and other.code == "idempotency_conflict"
    assert await balances(sessions, asha, ravi) == [600, 400]
    await assert_reconciled(sessions)


async def test_a_row_locked_elsewhere_fails_only_the_transfer_that_needs_it(
    okane: Okane, engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger
) -> None:
    people = [await make_user(sessions, ledger) for _ in range(6)]
    for person in people[:3]:
        await fund(sessions, ledger, person.id, 1_000)
    async with sessions() as s:
        blocked = (await wallets.wallet(s, people[5].id)).account_id
    async with AsyncSession(engine) as blocker, blocker.begin():
        await blocker.execute(
            text("SELECT 1 FROM accounts WHERE id = :id FOR UPDATE"), {"id": blocked}
        )
        results = await asyncio.gather(
            pay(okane, people[0], people[3].phone or "", 100),
            pay(okane, people[1], people[5].phone or "", 100),  # meets the held row
            pay(okane, people[2], people[4].phone or "", 100),
        )
    assert isinstance(results[1], LockTimeout)
    assert [r[0].status for r in (results[0], results[2])] == ["success", "success"]
    assert await balances(sessions, *people) == [900, 1_000, 900, 100, 100, 0]
    await assert_reconciled(sessions)


async def test_a_connection_killed_mid_batch_leaves_nothing_partial_and_retries_answer(
    okane: Okane, engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger
) -> None:
    people = [await make_user(sessions, ledger) for _ in range(8)]
    for person in people:
        await fund(sessions, ledger, person.id, 1_000)
    keys = [uuid.uuid4().hex for _ in people]
    await pay(okane, people[0], people[1].phone or "", 1)  # the batcher's connection is open
    async with AsyncSession(engine) as holder, holder.begin():
        # Hold one account so the next batch waits in the database, then kill its connection.
        account = (await wallets.wallet(holder, people[0].id)).account_id
        await holder.execute(
            text("SELECT 1 FROM accounts WHERE id = :a FOR UPDATE"), {"a": account}
        )
        pending = [
            asyncio.ensure_future(
                pay(okane, p, people[(i + 1) % len(people)].phone or "", 10, keys[i])
            )
            for i, p in enumerate(people)
        ]
        await asyncio.sleep(0.1)
        killed = (
            await holder.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE '%transfers' AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert killed == 1
    first = await asyncio.gather(*pending)
    # Every client has a definite answer now or on its retry with the same key.
    retried = await asyncio.gather(
        *(
            pay(okane, p, people[(i + 1) % len(people)].phone or "", 10, keys[i])
            for i, p in enumerate(people)
        )
    )
    for answer, again in zip(first, retried, strict=True):
        assert not isinstance(again, OkaneError), again
        if not isinstance(answer, OkaneError):
            assert answer[0].id == again[0].id and again[1] is True
    # Each of the eight moved 10 exactly once (plus the first transfer of 1).
    total = await balances(sessions, *people)
    assert sum(total) == 8_000
    assert total[0] == 1_000 - 1 - 10 + 10 and total[1] == 1_000 + 1
    await assert_reconciled(sessions)


async def test_two_processes_worth_of_batchers_against_one_database(
    settings: Settings, redis: Redis, sessions: SessionFactory, ledger: Ledger
) -> None:
    """Two batchers (as two processes have) moving money around one ring of wallets at once:
    PostgreSQL's row locks order them; nothing deadlocks for good, nothing is lost."""
    people = [await make_user(sessions, ledger) for _ in range(6)]
    for person in people:
        await fund(sessions, ledger, person.id, 10_000)
    (one, e1), (two, e2) = await _okane(settings, redis), await _okane(settings, redis)
    try:
        results = await asyncio.gather(
            *(
                pay(
                    one if i % 2 else two,
                    people[i % 6],
                    people[(i + (1 if i % 3 else 5)) % 6].phone or "",
                    7,
                )
                for i in range(240)
            )
        )
    finally:
        for built, engine in ((one, e1), (two, e2)):
            await built.close()
            await engine.dispose()
    done = [r for r in results if not isinstance(r, OkaneError)]
    assert len(done) == 240, [r for r in results if isinstance(r, OkaneError)][:3]
    assert all(view.status == "success" for view, _ in done)
    assert sum(await balances(sessions, *people)) == 60_000
    await assert_reconciled(sessions)
