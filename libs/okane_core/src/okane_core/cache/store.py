"""Versioned cache entries with compare-and-set, so a late fill cannot resurrect an old value.

Why versions and not leases: every cached value derives from a row that already carries a
version increasing on every change (a wallet's ``version``, a user's ``version``). Writers know
the version they committed; readers know the version they read. So after commit a writer
replaces the entry with a *tombstone* carrying the new version, and a fill is stored only if no
newer version is known (a Lua script makes the check and the write one atomic step). A reader
that read before the write holds an older version and its fill is refused, however late it
arrives. Leases would need an extra round trip on every miss and still need a version to order
concurrent fills; versions need neither.

Entries are ``<version>|V|<payload>`` (a value) or ``<version>|T|`` (a tombstone). Tombstones
live longer than values, so under ``volatile-ttl`` eviction values go first; and a fill older
than ``MAX_FILL_AGE`` seconds is dropped, so a reader stalled longer than a tombstone lives
cannot write either.

A restart empties Redis (it runs without persistence): a fill names the epoch its read began
under, and the first process to find the epoch missing rewrites every pending invalidation
before it starts a new one, so a read that began before the restart cannot land after it.

Redis never decides anything about money and never fails a request: every call goes through a
circuit breaker with short timeouts. A failed invalidation is not lost: it is a row of
``cache_outbox``, written in the transaction of the change and drained until Redis confirms
it; until then readers do not trust an older entry (``app/lease.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, RedisError

from okane_core.cache import keys
from okane_core.cache.breaker import BreakerState, CircuitBreaker
from okane_core.observability import metrics

log = logging.getLogger(__name__)

MAX_FILL_AGE = 5.0
EPOCH_TTL = 86_400  # a lapsed epoch is only a restart without the restart: fills pause briefly

# KEYS: entries (one user's), then the epoch key; ARGV[1]: ttl ms, ARGV[2]: the epoch the values
# were read under, then a version and a payload per entry. Under another epoch (Redis restarted
# since) nothing is stored. Else store each unless a newer version is known (or the same version
# as a value: nothing to do). Returns 1 (stored) or 0 per entry.
_FILL = """
local stored = {}
local entries = #KEYS - 1
if redis.call('GET', KEYS[#KEYS]) ~= ARGV[2] then
  for i = 1, entries do stored[i] = 0 end
  return stored
end
for i = 1, entries do
  local key = KEYS[i]
  local incoming = tonumber(ARGV[1 + 2 * i])
  local keep = 1
  local current = redis.call('GET', key)
  if current then
    local sep = string.find(current, '|', 1, true)
    local version = tonumber(string.sub(current, 1, sep - 1))
    local kind = string.sub(current, sep + 1, sep + 1)
    if version > incoming or (version == incoming and kind == 'V') then
      keep = 0
    end
  end
  if keep == 1 then
    redis.call('SET', key, ARGV[1 + 2 * i] .. '|V|' .. ARGV[2 + 2 * i], 'PX', ARGV[1])
  end
  stored[i] = keep
end
return stored
"""

# KEYS: entries (one user's, so one Redis Cluster slot), then that user's event stream when
# ARGV[2] is an event; ARGV[1]: ttl ms, ARGV[2]: the event ('' for none), ARGV[3]: the stream's
# length, ARGV[4]: its lifetime in seconds, then a version per entry. Replace each entry with a
# tombstone unless it is already at that version or newer, then append the event: one call per
# user, however many of their entries a write changed.
_INVALIDATE = """
local entries = #KEYS
if ARGV[2] ~= '' then entries = entries - 1 end
local written = 0
for i = 1, entries do
  local key = KEYS[i]
  local version = tonumber(ARGV[i + 4])
  local keep = 0
  local current = redis.call('GET', key)
  if current then
    local sep = string.find(current, '|', 1, true)
    if tonumber(string.sub(current, 1, sep - 1)) >= version then
      keep = 1
    end
  end
  if keep == 0 then
    redis.call('SET', key, ARGV[i + 4] .. '|T|', 'PX', ARGV[1])
    written = written + 1
  end
end
if ARGV[2] ~= '' then
  redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', ARGV[3], '*', 'data', ARGV[2])
  redis.call('EXPIRE', KEYS[#KEYS], ARGV[4])
end
return written
"""


@dataclass(frozen=True, slots=True)
class LiveEvents:
    """Events to append in the invalidation's round trip: per user (their hash tag), the
    stream and the event; then one message on ``channel`` that wakes every replica."""

    streams: dict[str, tuple[str, bytes]]
    channel: str
    wake: str
    length: int
    lifetime_seconds: int


def decode(raw: bytes | str | None) -> tuple[int, bytes] | None:
    """``(version, payload)`` of a value entry; None for a miss or a tombstone."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.encode()
    version, kind, payload = raw.split(b"|", 2)
    if kind != b"V":
        return None
    return int(version), payload


class VersionedStore:
    def __init__(
        self,
        redis: Redis,
        *,
        value_ttl: float = 600,
        tombstone_ttl: float = 1800,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.redis = redis
        self.value_ttl_ms = int(value_ttl * 1000)
        self.tombstone_ttl_ms = int(tombstone_ttl * 1000)
        self.breaker = breaker or CircuitBreaker(on_change=_record_breaker)
        # Scripts are called by digest (EVALSHA) inside pipelines, loaded on first NOSCRIPT:
        # no SCRIPT EXISTS round trip per pipeline.
        self._fill_sha = _sha(_FILL)
        self._invalidate_sha = _sha(_INVALIDATE)
        # The epoch this process last saw; None until it has seen one (no fills until then).
        self.epoch: bytes | None = None

    # --- the breaker ----------------------------------------------------------------------

    def _ok(self) -> None:
        if self.breaker.succeeded():
            log.info("Redis is reachable again; caching resumes")

    def _failed(self, error: Exception) -> None:
        log.warning("Redis call failed: %s", error)
        self.breaker.failed()

    # --- reads ----------------------------------------------------------------------------

    async def get(self, key: str, target: str) -> tuple[int, bytes] | None:
        if not self.breaker.allow():
            metrics.CACHE_REQUESTS.labels(target, "bypass").inc()
            return None
        try:
            raw = await self.redis.get(key)
        except RedisError as error:
            self._failed(error)
            metrics.CACHE_REQUESTS.labels(target, "error").inc()
            return None
        self._ok()
        entry = decode(raw)
        metrics.CACHE_REQUESTS.labels(target, "miss" if entry is None else "hit").inc()
        return entry

    # --- writes ---------------------------------------------------------------------------

    async def fill(
        self,
        key: str,
        target: str,
        version: int,
        payload: bytes,
        *,
        read_at: float,
        epoch: bytes | None,
    ) -> bool:
        """Store what was read from the database at ``read_at`` (time.monotonic()) under
        ``epoch`` (this store's epoch when the read began) unless a newer version is known.
        Returns whether it was stored."""
        if epoch is None:
            return False
        if time.monotonic() - read_at > MAX_FILL_AGE:
            metrics.CACHE_FILLS.labels(target, "too_old").inc()
            return False
        if self.breaker.state is not BreakerState.CLOSED or not self.breaker.allow():
            return False
        try:

            def build(pipe: Pipeline) -> None:
                pipe.evalsha(
                    self._fill_sha, 2, key, keys.EPOCH, self.value_ttl_ms, epoch, version, payload
                )

            (result,) = await self._pipeline(build)
            stored = bool(result == [1])
        except RedisError as error:
            self._failed(error)
            return False
        self._ok()
        metrics.CACHE_FILLS.labels(target, "stored" if stored else "stale").inc()
        return stored

    async def fill_many(
        self, groups: Sequence[Sequence[tuple[str, str, int, bytes]]], *, epoch: bytes
    ) -> dict[str, int]:
        """Pipelined fills for warming, same version and epoch rules: one round trip per call
        and one script call per group. Each group is ``(target, key, version, payload)``
        entries of one user. Returns how many entries were stored, per target."""
        groups = [group for group in groups if group]
        if not groups:
            return {}

        def build(pipe: Pipeline) -> None:
            for group in groups:
                args: list[Any] = [self.value_ttl_ms, epoch]
                for _, _, version, payload in group:
                    args += (version, payload)
                pipe.evalsha(
                    self._fill_sha, len(group) + 1, *(e[1] for e in group), keys.EPOCH, *args
                )

        results = await self._pipeline(build)
        stored: dict[str, int] = {}
        tried: dict[str, int] = {}
        for group, result in zip(groups, results, strict=True):
            for (target, _, _, _), outcome in zip(group, result, strict=True):
                tried[target] = tried.get(target, 0) + 1
                stored[target] = stored.get(target, 0) + int(outcome == 1)
        for target, count in tried.items():
            metrics.CACHE_FILLS.labels(target, "stored").inc(stored[target])
            metrics.CACHE_FILLS.labels(target, "stale").inc(count - stored[target])
        return stored

    async def invalidate(
        self, entries: Iterable[tuple[str, int]], events: LiveEvents | None = None
    ) -> bool:
        """Tombstone each key at its new version (called after the write committed) and append
        ``events`` in the same call per user. Returns whether Redis confirmed the tombstones;
        if not, the write's outbox rows still hold the invalidation (see ``app/lease.py``)."""
        pending = list(entries)
        if not pending and events is None:
            return True
        if not self.breaker.allow():
            metrics.CACHE_INVALIDATIONS.labels("deferred").inc(len(pending))
            return False
        try:
            await self._write_tombstones(pending, events)
        except RedisError as error:
            self._failed(error)
            metrics.CACHE_INVALIDATIONS.labels("deferred").inc(len(pending))
            return False
        self._ok()
        metrics.CACHE_INVALIDATIONS.labels("written").inc(len(pending))
        return True

    async def holds(self, entries: Sequence[tuple[str, int]]) -> bool:
        """Whether Redis holds every one of these keys at its version or newer (a value or a
        tombstone): then no reader can be served anything older. False if it cannot say."""
        if not entries or not self.breaker.allow():
            return not entries
        try:

            def build(pipe: Pipeline) -> None:
                for key, _ in entries:
                    pipe.get(key)

            found = await self._pipeline(build)
        except RedisError as error:
            self._failed(error)
            return False
        self._ok()
        for (_, version), raw in zip(entries, found, strict=True):
            if raw is None:
                return False
            current = raw if isinstance(raw, bytes) else str(raw).encode()
            if int(current.split(b"|", 1)[0]) < version:
                return False
        return True

    async def renew_epoch(self, pending: Iterable[tuple[str, int]] | None) -> bytes | None:
        """Learn the current epoch; if there is none (Redis restarted empty, or never used),
        first write ``pending`` (every invalidation not yet drained), then start one; with
        ``pending=None`` (not all of them are known) start none. Returns the epoch, or None."""
        if not self.breaker.allow():
            return None
        try:
            raw = await self.redis.get(keys.EPOCH)
            if raw is None and pending is not None:
                await self._write_tombstones(pending)
                await self.redis.set(keys.EPOCH, uuid.uuid4().hex, nx=True, ex=EPOCH_TTL)
                raw = await self.redis.get(keys.EPOCH)
        except RedisError as error:
            self._failed(error)
            return None
        self._ok()
        epoch = raw.encode() if isinstance(raw, str) else raw
        if epoch is not None and self.epoch is not None and epoch != self.epoch:
            log.warning("the cache's epoch changed (Redis restarted): fills start again")
        self.epoch = epoch
        return epoch

    async def _write_tombstones(
        self, entries: Iterable[tuple[str, int]], events: LiveEvents | None = None
    ) -> None:
        by_user: dict[str, list[tuple[str, int]]] = {}
        for key, version in entries:
            by_user.setdefault(_hash_tag(key), []).append((key, version))
        streams = events.streams if events is not None else {}
        for tag in streams:
            by_user.setdefault(tag, [])
        if not by_user:
            return
        ttl = self.tombstone_ttl_ms
        length, lifetime = (events.length, events.lifetime_seconds) if events else (0, 0)

        def build(pipe: Pipeline) -> None:
            for tag, group in by_user.items():
                names: list[Any] = [key for key, _ in group]
                told = streams.get(tag)
                event: bytes | str = ""
                if told is not None:
                    names.append(told[0])
                    event = told[1]
                pipe.evalsha(
                    self._invalidate_sha,
                    len(names),
                    *names,
                    ttl,
                    event,
                    length,
                    lifetime,
                    *(version for _, version in group),
                )
            if events is not None:
                pipe.publish(events.channel, events.wake)

        await self._pipeline(build)

    async def _pipeline(self, build: Callable[[Pipeline], None]) -> list[Any]:
        """Run the commands ``build`` queues as one round trip; load the scripts and run it
        again if Redis does not know them (first use, or after a restart)."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                build(pipe)
                try:
                    return list(await pipe.execute())
                except NoScriptError:
                    if attempt == 2:
                        raise
            await self.redis.script_load(_FILL)
            await self.redis.script_load(_INVALIDATE)
        raise AssertionError("unreachable")


def _hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes (``{...}``): keys that share it share a slot."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else key


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def _record_breaker(state: BreakerState) -> None:
    metrics.CACHE_BREAKER_STATE.set(int(state))
    metrics.CACHE_BREAKER_TRANSITIONS.labels(state.name.lower()).inc()
