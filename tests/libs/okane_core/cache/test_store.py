"""Versioned entries on a real Redis: the compare-and-set rules, and no stale resurrection."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from okane_core.cache.store import MAX_FILL_AGE, VersionedStore


async def test_fill_keeps_the_newest_version(store: VersionedStore) -> None:
    now = time.monotonic()
    assert await store.fill("k", "t", 5, b"five", read_at=now)
    assert not await store.fill("k", "t", 4, b"four", read_at=now)
    assert not await store.fill("k", "t", 5, b"five again", read_at=now)
    assert await store.get("k", "t") == (5, b"five")
    assert await store.fill("k", "t", 6, b"six", read_at=now)
    assert await store.get("k", "t") == (6, b"six")


async def test_a_tombstone_refuses_older_fills_and_accepts_its_own_version(
    store: VersionedStore,
) -> None:
    now = time.monotonic()
    await store.fill("k", "t", 1, b"old", read_at=now)
    await store.invalidate([("k", 2)])
    assert await store.get("k", "t") is None  # a tombstone is a miss
    assert not await store.fill("k", "t", 1, b"old", read_at=now)  # the late reader loses
    assert await store.fill("k", "t", 2, b"new", read_at=now)
    assert await store.get("k", "t") == (2, b"new")


async def test_invalidation_never_moves_backwards(store: VersionedStore, redis: Redis) -> None:
    now = time.monotonic()
    await store.fill("k", "t", 9, b"nine", read_at=now)
    await store.invalidate([("k", 8)])  # a slow writer's older invalidation
    assert await store.get("k", "t") == (9, b"nine")
    await store.invalidate([("k", 10)])
    assert await redis.get("k") == b"10|T|"


async def test_fills_of_old_reads_are_dropped(store: VersionedStore) -> None:
    assert not await store.fill("k", "t", 1, b"x", read_at=time.monotonic() - MAX_FILL_AGE - 1)
    assert await store.get("k", "t") is None


async def test_every_entry_has_a_ttl(store: VersionedStore, redis: Redis) -> None:
    await store.fill("v", "t", 1, b"x", read_at=time.monotonic())
    await store.invalidate([("tomb", 1)])
    value_ttl, tomb_ttl = await redis.pttl("v"), await redis.pttl("tomb")
    assert 0 < value_ttl <= store.value_ttl_ms
    assert store.value_ttl_ms < tomb_ttl <= store.tombstone_ttl_ms
