"""Build the cache objects a process needs from its settings (in an app factory or a CLI
command, never at import time)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.cache.events import EventPublisher
from okane_core.cache.reads import ReadCache
from okane_core.cache.store import VersionedStore
from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger.service import Ledger
from okane_core.observability.ledger import record_committed
from okane_core.settings import Settings

T = TypeVar("T")


@dataclass
class Cache:
    reads: ReadCache
    store: VersionedStore
    events: EventPublisher

    async def committed(self, changes: Changes) -> None:
        """The commit hook of every write path: invalidate, and tell connected clients, in one
        round trip (through the circuit breaker; nothing here can fail the request)."""
        record_committed(changes)
        events = self.events.queue(changes)
        if self.reads.store is not None:
            await self.reads.invalidate(changes, events)
        else:
            await self.store.invalidate([], events)


@dataclass
class UnitsOfWork:
    """Runs a unit of work; after it commits, metrics, the cache and live clients hear of it.
    The one way the services write."""

    sessions: SessionFactory
    cache: Cache
    max_retries: int

    async def __call__(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await run_in_transaction(
            self.sessions, work, max_retries=self.max_retries, on_commit=self.cache.committed
        )


def build_cache(
    settings: Settings, redis: Redis, sessions: SessionFactory, ledger: Ledger
) -> Cache:
    store = VersionedStore(
        redis,
        value_ttl=settings.cache_ttl_seconds,
        tombstone_ttl=settings.cache_tombstone_ttl_seconds,
    )
    reads = ReadCache(store if settings.cache_enabled else None, sessions, ledger)
    return Cache(reads=reads, store=store, events=EventPublisher(redis))
