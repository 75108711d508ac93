"""Cached reads under concurrent transfers, and across a Redis outage that keeps its data."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.app import codec
from okane_core.app.context import build_okane
from okane_core.app.reads import ReadCache
from okane_core.cache import keys, outbox
from okane_core.cache.store import VersionedStore, decode
from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import transfers, wallets
from okane_core.ledger.book import Ledger
from okane_core.observability import metrics
from okane_core.settings import Settings
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


async def test_an_invalidation_redis_refused_is_never_served_and_is_drained(
    settings: Settings, engine: AsyncEngine, ledger: Ledger, redis: Redis
) -> None:
    """Redis answers reads but refuses writes while a transfer commits: its tombstone fails.
    The old entry stays in Redis, yet no reader (of this process or another) is served it, the
    answer waits one lease, and once Redis takes writes again the outbox is drained."""
    writer, other = build_okane(settings, engine, redis), build_okane(settings, engine, redis)
    await writer.start()
    await other.start()
    try:
        sessions = writer.uow.sessions
        payer = await make_user(sessions, ledger)
        payee = await make_user(sessions, ledger)
        await fund(sessions, ledger, payer.id, 10_000)
        before = await writer.cache.reads.wallet(payer.id)
        assert await other.cache.reads.wallet(payer.id) == before
        key = keys.user_key(payer.id, keys.BALANCE)
        assert decode(await redis.get(key)) is not None  # cached
        delayed = metrics.CACHE_DELAYED_ANSWERS._value.get()
        await redis.config_set("min-replicas-to-write", 1)  # writes refused, reads answered
        try:
            await writer.uow.write(
                lambda s: transfers.transfer(
                    ledger,
                    s,
                    user_id=payer.id,
                    to=str(payee.id),
                    amount=2_500,
                    idempotency_key="refused-write",
                )
            )
            assert metrics.CACHE_DELAYED_ANSWERS._value.get() == delayed + 1
            stale = decode(await redis.get(key))
            assert stale is not None and codec.decode_wallet(stale[1]) == before
            for reads in (writer.cache.reads, other.cache.reads):
                assert (await reads.wallet(payer.id)).available == before.available - 2_500
        finally:
            await redis.config_set("min-replicas-to-write", 0)
        for _ in range(200):  # drained by the leases' background renewals
            if not await writer.uow.read(outbox.count):
                break
            await asyncio.sleep(0.05)
        assert await writer.uow.read(outbox.count) == 0
        entry = decode(await redis.get(key))
        assert entry is None or entry[0] > before.version
        after = await other.cache.reads.wallet(payer.id)
        assert after.available == before.available - 2_500
    finally:
        await writer.close()
        await other.close()
