from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from okane_core.app.lease import TrustLease
from okane_core.app.reads import ReadCache
from okane_core.cache.client import create_redis
from okane_core.cache.store import VersionedStore
from okane_core.db.engine import SessionFactory
from okane_core.db.uow import UnitOfWork
from okane_core.localstack import Endpoints


@pytest.fixture
async def redis(endpoints: Endpoints) -> AsyncIterator[Redis]:
    client = create_redis(endpoints.redis_url.rsplit("/", 1)[0] + "/5")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def store(redis: Redis) -> VersionedStore:
    store = VersionedStore(redis)
    await store.renew_epoch([])
    return store


@pytest.fixture
async def lease(store: VersionedStore, sessions: SessionFactory) -> AsyncIterator[TrustLease]:
    """This process's trust lease, renewed in the background as a service's is."""
    lease = TrustLease(sessions, store, seconds=0.5, session_window=960)
    await lease.start()
    yield lease
    await lease.stop()


@pytest.fixture
def reads(store: VersionedStore, sessions: SessionFactory, lease: TrustLease) -> ReadCache:
    return ReadCache(store, UnitOfWork(sessions), lease)
