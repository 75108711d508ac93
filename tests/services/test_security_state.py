"""Session revocations and rate-limit counters live in the same Redis as the cache: the cache's
recovery from an outage must never take them with it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from okane_core.cache import keys
from okane_core.cache import store as store_module
from okane_core.cache.breaker import BreakerState
from okane_core.cache.client import create_redis
from okane_core.cache.store import VersionedStore
from okane_core.db.engine import SessionFactory
from okane_core.db.uow import UnitOfWork
from okane_core.localstack import Endpoints
from okane_user_api.auth.ratelimit import RateLimiter
from okane_user_api.auth.revocation import Revocations

PAUSE_MS = 1500
ADDRESS = "203.0.113.7"


@pytest.fixture
async def redis(endpoints: Endpoints) -> AsyncIterator[Redis]:
    client = create_redis(endpoints.redis_url.rsplit("/", 1)[0] + "/6")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_recovery_from_an_overflowing_outage_keeps_revocations_and_rate_limits(
    redis: Redis, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis stops answering while more invalidations pile up than the store remembers, so
    when Redis is back the store drops every cache entry. A signed-out session stays signed
    out and a locked-out address stays locked out."""
    monkeypatch.setattr(store_module, "MAX_DIRTY", 5)
    store = VersionedStore(redis)
    revocations = Revocations(redis, UnitOfWork(sessions), ttl_seconds=900)
    limiter = RateLimiter(redis)

    user, signed_out, signed_in = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await revocations.publish(user, signed_out)
    for _ in range(3):
        assert await limiter.hit("login-address", ADDRESS, 3, 600) is None
    assert await limiter.hit("login-address", ADDRESS, 3, 600) is not None
    cached = [keys.user_key(user, keys.BALANCE), keys.user_key(uuid.uuid4(), keys.PROFILE)]
    for key in cached:
        assert await store.fill(key, "balances", 1, b"cached", read_at=time.monotonic())

    options = redis.connection_pool.connection_kwargs
    pauser = Redis(host=options["host"], port=options["port"], db=options["db"])
    try:
        await pauser.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        started = time.monotonic()
        writes = 0
        while store.breaker.state is not BreakerState.OPEN or writes <= store_module.MAX_DIRTY:
            await store.invalidate([(keys.user_key(uuid.uuid4(), keys.BALANCE), 2)])
            writes += 1
        assert time.monotonic() - started < PAUSE_MS / 1000, "the outage ended too early"
        await asyncio.sleep(PAUSE_MS / 1000 - (time.monotonic() - started) + 0.1)
        await asyncio.sleep(store.breaker.cooldown)

        # The first call after the outage recovers: every cache entry is gone...
        assert await store.get(cached[0], "balances") is None
        assert store.breaker.state is BreakerState.CLOSED
        for key in cached:
            assert not await pauser.exists(key), key
        # ...and the security state is intact. (Redis answers these checks: a session it
        # knows nothing about counts as live, without asking the database.)
        assert await revocations.is_revoked(user, signed_out)
        assert not await revocations.is_revoked(user, signed_in)
        assert await limiter.peek("login-address", ADDRESS, 3) is not None
        assert await limiter.hit("login-address", ADDRESS, 3, 600) is not None
    finally:
        await pauser.aclose()


async def test_revocations_under_the_previous_key_name_hold_during_a_rolling_upgrade(
    redis: Redis, sessions: SessionFactory
) -> None:
    """Old and new replicas run side by side: each honours what the other recorded."""
    revocations = Revocations(redis, UnitOfWork(sessions), ttl_seconds=900)
    user, by_old, by_new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await redis.set(keys.previous_revoked_session(user, by_old), b"1", ex=960)  # as before
    assert await revocations.is_revoked(user, by_old)
    await revocations.publish(user, by_new)
    assert await redis.exists(keys.previous_revoked_session(user, by_new))  # an old one sees it
    assert await revocations.is_revoked(user, by_new)
    assert not await revocations.is_revoked(user, uuid.uuid4())
