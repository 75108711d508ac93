"""What a process builds once (in an app factory or a CLI command, never at import time) and
hands to every use case: settings, the ledger's configuration, the unit of work and the cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.app.lease import TrustLease
from okane_core.app.reads import ReadCache
from okane_core.cache.events import EventPublisher
from okane_core.cache.store import VersionedStore
from okane_core.db.batcher import Batcher
from okane_core.db.changes import Changes, WalletChange
from okane_core.db.engine import create_session_factory, raw_connector
from okane_core.db.uow import UnitOfWork
from okane_core.ledger import transfers as ledger_transfers
from okane_core.ledger.book import Ledger
from okane_core.ledger.repository.transfers import run_on_connection
from okane_core.ledger.transfers import TransferOutcome, TransferRequest
from okane_core.observability import metrics
from okane_core.observability.ledger import record_committed
from okane_core.settings import Settings


@dataclass
class Cache:
    reads: ReadCache
    store: VersionedStore
    events: EventPublisher
    lease: TrustLease

    async def committed(self, changes: Changes) -> float:
        """The commit hook of every write path: metrics, then invalidate and tell connected
        clients in one round trip (through the circuit breaker; nothing here can fail the
        request). Returns how long the answer must wait: a lease when Redis did not confirm
        the invalidation, so every process serving from Redis has seen the outbox row."""
        record_committed(changes)
        events = self.events.queue(changes)
        if await self.reads.invalidate(changes, events):
            if self.reads.store is None and events is not None:
                await self.store.invalidate([], events)
            return 0.0
        metrics.CACHE_DELAYED_ANSWERS.inc()
        return self.lease.seconds


TransferBatcher = Batcher[TransferRequest, TransferOutcome]


@dataclass
class Okane:
    settings: Settings
    ledger: Ledger
    uow: UnitOfWork
    cache: Cache
    transfers: TransferBatcher | None  # None: each transfer is a unit of work of its own

    async def start(self) -> None:
        """Start the process's background work (the trust lease); services call this, a
        one-off command need not (it then never serves from Redis)."""
        await self.cache.lease.start()

    async def close(self) -> None:
        await self.cache.lease.stop()
        if self.transfers is not None:
            await self.transfers.close()


def build_okane(settings: Settings, engine: AsyncEngine, redis: Redis) -> Okane:
    sessions = create_session_factory(engine)
    store = VersionedStore(
        redis,
        value_ttl=settings.cache_ttl_seconds,
        tombstone_ttl=settings.cache_tombstone_ttl_seconds,
    )
    lease = TrustLease(
        sessions,
        store if settings.cache_enabled else None,
        seconds=settings.cache_lease_ms / 1000,
        session_window=settings.access_token_seconds + 60,
        pending_limit=settings.cache_pending_limit,
    )
    reads = ReadCache(store if settings.cache_enabled else None, UnitOfWork(sessions), lease)
    cache = Cache(reads=reads, store=store, events=EventPublisher(redis), lease=lease)
    uow = UnitOfWork(sessions, on_commit=cache.committed, max_retries=settings.max_retries)
    ledger = Ledger(settings)
    transfers = None
    if settings.batch_transfers:
        # Wallet versions whose invalidation Redis confirmed: the next batch deletes their
        # outbox rows in its own round trip (a batch that fails leaves them to the drain).
        confirmed: list[WalletChange] = []

        async def execute(
            connection: AsyncConnection[Any], requests: Sequence[TransferRequest]
        ) -> list[TransferOutcome]:
            params = ledger_transfers.batch_parameters(ledger, requests, confirmed)
            confirmed.clear()
            rows = await run_on_connection(connection, params)
            return [ledger_transfers.outcome_of(ledger, row) for row in rows]

        async def committed(outcomes: Sequence[TransferOutcome]) -> float:
            changes = ledger_transfers.record_changes(Changes(), outcomes)
            delay = await uow.committed(changes)
            if delay == 0 and len(confirmed) < settings.max_batch * 2:
                confirmed.extend(changes.wallets.values())
            return delay

        url = engine.url.render_as_string(hide_password=False)
        transfers = Batcher(
            raw_connector(settings, url, application_name="okane-transfers"),
            execute,
            committed,
            name="transfers",
            max_batch=settings.max_batch,
            max_retries=settings.max_retries,
        )
    return Okane(settings=settings, ledger=ledger, uow=uow, cache=cache, transfers=transfers)
