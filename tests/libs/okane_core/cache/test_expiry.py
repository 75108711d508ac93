"""``okane ledger expire`` is a write like any other: what it changes reaches the cache."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from redis.asyncio import Redis
from sqlalchemy import text

from okane_core.app.reads import ReadCache
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import withdrawals
from okane_core.ledger.book import Ledger
from okane_core.settings import Settings
from tests.factories import fund, make_user


async def test_a_withdrawal_set_aside_by_the_cli_replaces_the_cached_views(
    settings: Settings, sessions: SessionFactory, ledger: Ledger, redis: Redis, reads: ReadCache
) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 1_000)
    await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user.id, amount=400, idempotency_key="w"
        ),
    )
    cached = await reads.wallet(user.id)  # read through: now in Redis
    assert (await reads.history(user.id, 1)).data[0].status == "processing"
    assert (cached.available, cached.locked) == (600, 400)
    assert (await reads.wallet(user.id)) == cached  # served from the cache
    async with sessions() as s, s.begin():
        await s.execute(text("UPDATE transactions SET expires_at = now() - interval '1 s'"))

    pool = redis.connection_pool.connection_kwargs
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "okane_core.cli",
        "ledger",
        "expire",
        env={
            **os.environ,
            "OKANE_DATABASE_URL": settings.database_url or "",
            "OKANE_REDIS_URL": f"redis://{pool['host']}:{pool['port']}/{pool['db']}",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert json.loads(out.decode().strip().splitlines()[-1]) == {"overdue": 1}

    after = await reads.wallet(user.id)
    assert (after.available, after.locked) == (600, 400)  # the bank may have paid: held
    assert after.version > cached.version
    assert (await reads.history(user.id, 1)).data[0].status == "unknown"
