"""Live wallet events: a per-user Redis stream (so a reconnecting client can resume from its
``Last-Event-ID``) plus one pub/sub channel that wakes every user-api replica when any stream
grows. Replicas hold one pub/sub connection each, whatever the number of connected clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from okane_core.cache import keys
from okane_core.cache.breaker import CircuitBreaker
from okane_core.cache.store import LiveEvents
from okane_core.db.changes import Changes

log = logging.getLogger(__name__)

STREAM_LENGTH = 200
STREAM_TTL_SECONDS = 24 * 60 * 60


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    data: dict[str, Any]


def wallet_events(changes: Changes) -> dict[uuid.UUID, dict[str, Any]]:
    """One event per wallet the unit of work changed: its new balance and the transactions."""
    events = {}
    for user_id, wallet in changes.wallets.items():
        events[user_id] = {
            "type": "wallet",
            "version": wallet.version,
            "currency": wallet.currency,
            "available": wallet.available,
            "locked": wallet.locked,
            "transactions": [
                {
                    "id": str(t.id),
                    "kind": t.kind,
                    "status": t.status,
                    "amount": t.amount,
                    "direction": "debit" if t.debit_account_id == wallet.account_id else "credit",
                }
                for t in changes.transactions_of(wallet.account_id)
            ],
        }
    return events


class EventPublisher:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def queue(self, changes: Changes) -> LiveEvents | None:
        """Each changed user's event and the wake-up of the replicas, to send in the same
        round trip (and the same script call per user) as the cache invalidation. Best effort:
        a client that misses an event gets the current balance when it reconnects."""
        events = wallet_events(changes)
        if not events:
            return None
        return LiveEvents(
            streams={
                keys.user_tag(user_id): (
                    keys.events_stream(user_id),
                    orjson.dumps(data),
                )
                for user_id, data in events.items()
            },
            channel=keys.EVENTS_CHANNEL,
            # One wake-up for the whole commit: the ids of every user whose stream grew.
            wake=" ".join(str(user_id) for user_id in events),
            length=STREAM_LENGTH,
            lifetime_seconds=STREAM_TTL_SECONDS,
        )


class EventHub:
    """Per process: one pub/sub subscription, fanned out to the local listeners of each user."""

    def __init__(self, redis: Redis, breaker: CircuitBreaker) -> None:
        self.redis = redis
        self.breaker = breaker
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-hub")

    STOP_SECONDS = 2.0

    async def stop(self) -> None:
        """End the subscription; bounded, so a subscription stuck closing its connection
        never holds up the process's shutdown (the client's pool is closed after it)."""
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=self.STOP_SECONDS)
            if not done:
                log.warning("event subscription did not end within %.1f s", self.STOP_SECONDS)

    async def _run(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(keys.EVENTS_CHANNEL)
                try:
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._wake(message["data"])
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as error:
                log.warning("event subscription lost (%s); retrying", error)
                for waiters in self._listeners.values():
                    for waiter in waiters:
                        waiter.set()  # let streams fall back to polling
                await asyncio.sleep(1)

    def _wake(self, raw: bytes | str) -> None:
        users = raw.decode() if isinstance(raw, bytes) else raw
        for user in users.split():
            for waiter in self._listeners.get(user, ()):
                waiter.set()

    def listening(self, user_id: uuid.UUID) -> int:
        """How many streams of this user this process has open."""
        return len(self._listeners.get(str(user_id), ()))

    @contextlib.asynccontextmanager
    async def listen(self, user_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._listeners[str(user_id)].add(waiter)
        try:
            yield waiter
        finally:
            self._listeners[str(user_id)].discard(waiter)
            if not self._listeners[str(user_id)]:
                del self._listeners[str(user_id)]

    async def read_after(self, user_id: uuid.UUID, last_id: str) -> list[Event]:
        """Events of the user's stream after ``last_id`` (exclusive)."""
        stream = keys.events_stream(user_id)
        entries = await self.breaker.call(
            lambda: self.redis.xrange(stream, min=f"({last_id}", count=100)
        )
        return [
            Event(_text(entry_id), json.loads(fields[b"data"]))
            for entry_id, fields in entries or []
            if entry_id is not None and fields is not None
        ]

    async def last_id(self, user_id: uuid.UUID) -> str:
        stream = keys.events_stream(user_id)
        entries = await self.breaker.call(lambda: self.redis.xrevrange(stream, count=1))
        return _text(entries[0][0]) if entries and entries[0][0] is not None else "0-0"

    async def has(self, user_id: uuid.UUID, event_id: str) -> bool:
        """Whether ``event_id`` is still in the user's stream (not trimmed away)."""
        stream = keys.events_stream(user_id)
        entries = await self.breaker.call(
            lambda: self.redis.xrange(stream, min=event_id, max=event_id)
        )
        return bool(entries)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
