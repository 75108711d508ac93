"""Fixed-window rate limits kept in Redis, so they hold across replicas.

If Redis cannot answer, a per-process window takes over: limits stay in force (per replica)
and no request fails or waits because of Redis.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from okane_core.cache import keys

log = logging.getLogger(__name__)

# INCR the window's counter, set its expiry on first use, return (count, seconds left).
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
return {count, ttl}
"""


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_HIT)
        self._local: dict[str, tuple[int, float]] = {}

    async def peek(self, scope: str, subject: str, limit: int) -> int | None:
        """Seconds to wait if ``subject`` is over ``limit`` already, else None."""
        key = keys.rate_limit(scope, subject)
        try:
            raw = await self._redis.get(key)
            if raw is None or int(raw) < limit:
                return None
            ttl = int(await self._redis.ttl(key))
            return max(ttl, 1)
        except RedisError as error:
            log.warning("rate limit read fell back to this process: %s", error)
            return self._local_peek(key, limit)

    async def hit(self, scope: str, subject: str, limit: int, window: int) -> int | None:
        """Count one event; return seconds to wait if this one is over ``limit``."""
        key = keys.rate_limit(scope, subject)
        try:
            count, ttl = await self._script(keys=[key], args=[window])
        except RedisError as error:
            log.warning("rate limit fell back to this process: %s", error)
            count, ttl = self._local_hit(key, window)
        return max(int(ttl), 1) if int(count) > limit else None

    async def reset(self, scope: str, subject: str) -> None:
        key = keys.rate_limit(scope, subject)
        self._local.pop(key, None)
        try:
            await self._redis.delete(key)
        except RedisError as error:
            log.warning("rate limit reset failed: %s", error)

    def _local_hit(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        count, until = self._local.get(key, (0, now + window))
        if until <= now:
            count, until = 0, now + window
        self._local[key] = (count + 1, until)
        return count + 1, int(until - now) + 1

    def _local_peek(self, key: str, limit: int) -> int | None:
        now = time.monotonic()
        count, until = self._local.get(key, (0, now))
        if until <= now or count < limit:
            return None
        return int(until - now) + 1
