"""The race that resurrected stale balances in the original: a reader reads the database, a
writer commits and invalidates, then the reader fills. Forced, many times, on real PostgreSQL
and Redis: no stale value may survive.

Figures go to ``.okane/test-reports/cache-race.json``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from okane_core.app import codec
from okane_core.app.reads import HISTORY_PAGE, ReadCache
from okane_core.cache import keys
from okane_core.cache.store import VersionedStore
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import transfers, wallets
from okane_core.ledger.book import Ledger
from tests.factories import fund, make_user

ITERATIONS = 300
REPORT = Path(__file__).resolve().parents[4] / ".okane" / "test-reports" / "cache-race.json"


async def test_a_late_fill_never_resurrects_an_old_balance(
    sessions: SessionFactory, ledger: Ledger, store: VersionedStore, reads: ReadCache
) -> None:
    payer = await make_user(sessions, ledger)
    payee = await make_user(sessions, ledger)
    await fund(sessions, ledger, payer.id, 1_000_000)
    key = keys.user_key(payer.id, keys.BALANCE)
    refused = survivors = 0
    for _ in range(ITERATIONS):
        # 1. The reader reads the database...
        read_at = time.monotonic()
        async with sessions() as s:
            before = await wallets.wallet(s, payer.id)
        # 2. ...the writer commits and invalidates (the commit hook of every write path)...
        await run_in_transaction(
            sessions,
            lambda s: transfers.transfer(
                ledger,
                s,
                user_id=payer.id,
                to=str(payee.id),
                amount=1,
                idempotency_key=uuid.uuid4().hex,
            ),
            on_commit=reads.invalidate,
        )
        # 3. ...and only then does the reader fill.
        stored = await store.fill(
            key,
            "balances",
            before.version,
            codec.encode_wallet(before),
            read_at=read_at,
            epoch=store.epoch,
        )
        refused += not stored
        # What any reader now sees must be the committed balance.
        seen = await reads.wallet(payer.id)
        async with sessions() as s:
            truth = await wallets.wallet(s, payer.id)
        survivors += seen != truth
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {"iterations": ITERATIONS, "late_fills_refused": refused, "stale_survivors": survivors}
        )
    )
    assert survivors == 0
    assert refused == ITERATIONS


async def test_without_versions_the_race_would_resurrect(
    sessions: SessionFactory, ledger: Ledger, store: VersionedStore, reads: ReadCache
) -> None:
    """The control: a plain SET (what the original did) leaves the old balance behind, so the
    test above is able to fail."""
    payer = await make_user(sessions, ledger)
    payee = await make_user(sessions, ledger)
    await fund(sessions, ledger, payer.id, 1_000)
    key = keys.user_key(payer.id, keys.BALANCE)
    async with sessions() as s:
        before = await wallets.wallet(s, payer.id)
    await run_in_transaction(
        sessions,
        lambda s: transfers.transfer(
            ledger, s, user_id=payer.id, to=str(payee.id), amount=1, idempotency_key="k"
        ),
        on_commit=reads.invalidate,
    )
    # Once the outbox is drained (its row no longer makes readers doubt older entries; the
    # drain takes a row once it is older than a lease):
    await asyncio.sleep(reads.lease.seconds)
    await reads.lease.renew()
    await reads.lease.renew()
    await store.redis.set(key, f"{before.version}|V|".encode() + codec.encode_wallet(before))
    assert (await reads.wallet(payer.id)).available == before.available  # stale: the bug


async def test_a_history_page_longer_than_the_cached_one_is_whole(
    sessions: SessionFactory, ledger: Ledger, reads: ReadCache
) -> None:
    user = await make_user(sessions, ledger)
    for _ in range(HISTORY_PAGE + 5):
        await fund(sessions, ledger, user.id, 1)
    assert len((await reads.history(user.id, 5)).data) == 5
    assert len((await reads.history(user.id, HISTORY_PAGE)).data) == HISTORY_PAGE
    whole = await reads.history(user.id, 100)
    assert len(whole.data) == HISTORY_PAGE + 5
    assert not whole.has_more
