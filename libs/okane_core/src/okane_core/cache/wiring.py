"""Build the cache objects a process needs from its settings (in an app factory or a CLI
command, never at import time)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from okane_core.cache.events import EventPublisher
from okane_core.cache.reads import ReadCache
from okane_core.cache.store import VersionedStore
from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory
from okane_core.ledger.service import Ledger
from okane_core.settings import Settings


@dataclass
class Cache:
    reads: ReadCache
    store: VersionedStore
    events: EventPublisher

    async def committed(self, changes: Changes) -> None:
        """The commit hook of every write path: invalidate, and tell connected clients, in one
        round trip (through the circuit breaker; nothing here can fail the request)."""
        events = self.events.queue(changes)
        if self.reads.store is not None:
            await self.reads.invalidate(changes, events)
        else:
            await self.store.invalidate([], events)


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
