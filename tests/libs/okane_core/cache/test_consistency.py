"""Cached reads under concurrent transfers, and across a Redis outage that keeps its data."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from redis.asyncio import Redis

from okane_core.app import codec
from okane_core.app.reads import ReadCache
from okane_core.cache import keys
from okane_core.cache.breaker import BreakerState
from okane_core.cache.store import VersionedStore, decode
from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import transfers, wallets
from okane_core.ledger.book import Ledger
from tests.factories import fund, make_user

CLIENTS = 8
SECONDS = 8.0


async def test_no_read_is_older_than_the_clients_last_acknowledged_write(
    sessions: SessionFactory, ledger: Ledger, store: VersionedStore, reads: ReadCache
) -> None:
    users = [(await make_user(sessions, ledger)).id for _ in range(CLIENTS)]
    for user_id in users:
        await fund(sessions, ledger, user_id, 1_000_000)
    violations: list[str] = []
    reads_checked = 0
    deadline = time.monotonic() + SECONDS

    async def client(me: uuid.UUID, seed: int) -> None:
        nonlocal reads_checked
        rng = random.Random(seed)
        acknowledged = 0
        while time.monotonic() < deadline:
            if rng.random() < 0.4:
                seen: list[Changes] = []

                async def hook(changes: Changes, seen: list[Changes] = seen) -> None:
                    await reads.invalidate(changes)
                    seen.append(changes)

                other = rng.choice([u for u in users if u != me])
                await run_in_transaction(
                    sessions,
                    lambda s, other=other: transfers.transfer(
                        ledger,
                        s,
                        user_id=me,
                        to=str(other),
                        amount=rng.randint(1, 50),
                        idempotency_key=uuid.uuid4().hex,
                    ),
                    on_commit=hook,
                )
                acknowledged = seen[-1].wallets[me].version
            wallet = await reads.wallet(me)
            reads_checked += 1
            if wallet.version < acknowledged:
                violations.append(
                    f"{me}: read v{wallet.version} after acknowledged v{acknowledged}"
                )

    await asyncio.gather(*(client(u, i) for i, u in enumerate(users)))
    assert violations == []
    assert reads_checked > 100
    # After the load: every cached value equals the database.
    async with sessions() as s:
        for user_id in users:
            truth = await wallets.wallet(s, user_id)
            entry = decode(await store.redis.get(keys.user_key(user_id, keys.BALANCE)))
            if entry is not None:
                assert codec.decode_wallet(entry[1]) == truth
            assert await reads.wallet(user_id) == truth


async def test_invalidations_missed_during_an_outage_are_replayed_before_caching_resumes(
    sessions: SessionFactory, ledger: Ledger, store: VersionedStore, reads: ReadCache, redis: Redis
) -> None:
    """Redis stops answering (but keeps its data); a write commits meanwhile. When Redis is back,
    its old entry must not be served."""
    payer = await make_user(sessions, ledger)
    payee = await make_user(sessions, ledger)
    await fund(sessions, ledger, payer.id, 10_000)
    before = await reads.wallet(payer.id)  # cached now
    assert await reads.wallet(payer.id) == before
    # Pause every client of this Redis for a while: commands time out, the breaker opens.
    options = redis.connection_pool.connection_kwargs
    pauser = Redis(host=options["host"], port=options["port"], db=options["db"])
    await pauser.execute_command("CLIENT", "PAUSE", 1500, "ALL")
    started = time.monotonic()
    await run_in_transaction(
        sessions,
        lambda s: transfers.transfer(
            ledger, s, user_id=payer.id, to=str(payee.id), amount=2_500, idempotency_key="outage"
        ),
        on_commit=reads.invalidate,
    )
    during = await reads.wallet(payer.id)  # from PostgreSQL, fast, fresh
    assert during.available == before.available - 2_500
    assert time.monotonic() - started < 1.5, "Redis trouble must not stall requests"
    assert store.breaker.state is BreakerState.OPEN
    await asyncio.sleep(max(0.0, 1.6 - (time.monotonic() - started)) + store.breaker.cooldown)
    # Redis is back with the old entry still in it; the first read after recovery replays the
    # missed invalidation before anything is served from the cache.
    stale = decode(await pauser.get(keys.user_key(payer.id, keys.BALANCE)))
    assert stale is not None and codec.decode_wallet(stale[1]) == before
    after = await reads.wallet(payer.id)
    assert after.available == before.available - 2_500
    assert store.breaker.state is BreakerState.CLOSED
    again = await reads.wallet(payer.id)  # and caching resumes
    assert again == after
    assert decode(await pauser.get(keys.user_key(payer.id, keys.BALANCE))) is not None
    await pauser.aclose()
