"""The Redis client's pool under more concurrent commands than it has connections."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from okane_core.cache.client import create_redis
from okane_core.localstack import Endpoints


async def test_a_burst_larger_than_the_pool_waits_for_connections(endpoints: Endpoints) -> None:
    """Twenty concurrent commands on a pool of two queue for a connection (each takes well
    under a millisecond) instead of failing with "Too many connections", which would send
    healthy reads to PostgreSQL."""
    client = create_redis(endpoints.redis_url, max_connections=2)
    try:
        await client.set("okane:test:pool", b"x", px=10_000)
        results = await asyncio.gather(*(client.get("okane:test:pool") for _ in range(20)))
    finally:
        await client.aclose()
    assert results == [b"x"] * 20


async def test_a_pool_held_past_the_timeout_fails_fast(endpoints: Endpoints) -> None:
    """Waiting is bounded: a connection that stays busy longer than the connect timeout gives
    the caller an error to fall back on. Had the caller waited for the busy connection, its
    PING would have succeeded once the BLPOP returned."""
    client = create_redis(endpoints.redis_url, max_connections=1, command_timeout=5)
    try:
        held = asyncio.ensure_future(client.blpop(["okane:test:pool:held"], timeout=1))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError):
            await client.ping()
        assert await held is None
        assert not held.cancelled()
    finally:
        await client.aclose()
