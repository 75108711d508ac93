"""Versioned entries on a real Redis: the compare-and-set rules, and no stale resurrection."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from okane_core.cache import keys
from okane_core.cache.store import MAX_FILL_AGE, VersionedStore


async def test_fill_keeps_the_newest_version(store: VersionedStore) -> None:
    now = time.monotonic()
    assert await store.fill("k", "t", 5, b"five", read_at=now, epoch=store.epoch)
    assert not await store.fill("k", "t", 4, b"four", read_at=now, epoch=store.epoch)
    assert not await store.fill("k", "t", 5, b"five again", read_at=now, epoch=store.epoch)
    assert await store.get("k", "t") == (5, b"five")
    assert await store.fill("k", "t", 6, b"six", read_at=now, epoch=store.epoch)
    assert await store.get("k", "t") == (6, b"six")


async def test_a_tombstone_refuses_older_fills_and_accepts_its_own_version(
    store: VersionedStore,
) -> None:
    now = time.monotonic()
    await store.fill("k", "t", 1, b"old", read_at=now, epoch=store.epoch)
    await store.invalidate([("k", 2)])
    assert await store.get("k", "t") is None  # a tombstone is a miss
    # the late reader loses
    assert not await store.fill("k", "t", 1, b"old", read_at=now, epoch=store.epoch)
    assert await store.fill("k", "t", 2, b"new", read_at=now, epoch=store.epoch)
    assert await store.get("k", "t") == (2, b"new")


async def test_invalidation_never_moves_backwards(store: VersionedStore, redis: Redis) -> None:
    now = time.monotonic()
    await store.fill("k", "t", 9, b"nine", read_at=now, epoch=store.epoch)
    await store.invalidate([("k", 8)])  # a slow writer's older invalidation
    assert await store.get("k", "t") == (9, b"nine")
    await store.invalidate([("k", 10)])
    assert await redis.get("k") == b"10|T|"


async def test_fills_of_old_reads_are_dropped(store: VersionedStore) -> None:
    assert not await store.fill(
        "k", "t", 1, b"x", read_at=time.monotonic() - MAX_FILL_AGE - 1, epoch=store.epoch
    )
    assert await store.get("k", "t") is None


async def test_every_entry_has_a_ttl(store: VersionedStore, redis: Redis) -> None:
    await store.fill("v", "t", 1, b"x", read_at=time.monotonic(), epoch=store.epoch)
    await store.invalidate([("tomb", 1)])
    value_ttl, tomb_ttl = await redis.pttl("v"), await redis.pttl("tomb")
    assert 0 < value_ttl <= store.value_ttl_ms
    assert store.value_ttl_ms < tomb_ttl <= store.tombstone_ttl_ms


async def test_fill_many_applies_the_rules_to_each_key_of_a_group(
    store: VersionedStore, redis: Redis
) -> None:
    """One script call per user's group: each key is checked on its own."""
    now = time.monotonic()
    await store.fill("{u1}:same", "a", 3, b"three", read_at=now, epoch=store.epoch)
    await store.invalidate([("{u1}:newer", 7)])
    stored = await store.fill_many(
        [
            [
                ("a", "{u1}:same", 3, b"three again"),  # same version as the value: kept
                ("b", "{u1}:newer", 6, b"six"),  # older than the tombstone: refused
                ("b", "{u1}:missing", 1, b"one"),  # nothing there: stored
            ],
            [("a", "{u2}:missing", 2, b"two")],
            [],
        ],
        epoch=store.epoch or b"",
    )
    assert stored == {"a": 1, "b": 1}
    assert await redis.get("{u1}:same") == b"3|V|three"
    assert await redis.get("{u1}:newer") == b"7|T|"
    assert await redis.get("{u1}:missing") == b"1|V|one"
    assert await redis.get("{u2}:missing") == b"2|V|two"
    assert 0 < await redis.pttl("{u2}:missing") <= store.value_ttl_ms


async def test_a_fill_under_another_epoch_is_refused(store: VersionedStore, redis: Redis) -> None:
    """A read that began before Redis restarted empty must not land after the restart."""
    before = store.epoch
    assert before is not None
    await redis.flushdb()  # what a restart without persistence leaves
    assert not await store.fill("k", "t", 1, b"old", read_at=time.monotonic(), epoch=before)
    assert await redis.get("k") is None
    # The next renewal writes what is pending first, then starts a new epoch.
    assert await store.renew_epoch([("pending", 4)]) not in (None, before)
    assert await redis.get("pending") == b"4|T|"
    assert not await store.fill("k", "t", 1, b"old", read_at=time.monotonic(), epoch=before)
    assert await store.fill("k", "t", 1, b"new", read_at=time.monotonic(), epoch=store.epoch)


async def test_no_epoch_is_started_while_not_every_pending_invalidation_is_known(
    store: VersionedStore, redis: Redis
) -> None:
    await redis.flushdb()
    assert await store.renew_epoch(None) is None
    assert await redis.get(keys.EPOCH) is None
    assert not await store.fill("k", "t", 1, b"x", read_at=time.monotonic(), epoch=store.epoch)
