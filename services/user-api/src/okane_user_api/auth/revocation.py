"""Is an access token's session still live?

The truth is ``auth_sessions.revoked_at`` in PostgreSQL. Each process learns the sessions revoked
since its last trust-lease renewal (``okane_core/app/lease.py``, every L/4), so a check costs no
query while the lease holds and asks PostgreSQL when it lapsed; a logout waits one lease before it
answers, so once it is acknowledged no replica accepts the session's tokens. Redis holds no
security state: an evicted or restarted Redis cannot bring a session back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from okane_core.app import logins
from okane_core.app.lease import TrustLease
from okane_core.cache import keys
from okane_core.cache.breaker import CircuitBreaker
from okane_core.db.uow import UnitOfWork

log = logging.getLogger(__name__)


class Revocations:
    def __init__(
        self,
        redis: Redis,
        uow: UnitOfWork,
        lease: TrustLease,
        breaker: CircuitBreaker,
        *,
        ttl_seconds: int,
    ) -> None:
        self._redis = redis
        self._uow = uow
        self._lease = lease
        self._breaker = breaker
        self._ttl = ttl_seconds

    async def is_revoked(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        known = self._lease.revoked(session_id)
        if known is not None:
            return known
        return not await logins.is_active(self._uow, session_id)

    async def publish(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        await self.publish_many(user_id, [session_id])

    async def publish_many(self, user_id: uuid.UUID, session_ids: list[uuid.UUID]) -> None:
        """Called after the revocations committed: wait until every replica's lease has seen
        them. Replicas of the previous release check Redis, so they are written there too
        while a rolling upgrade runs both (best effort, through the breaker; drop one release
        later)."""

        async def write() -> list[object]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    for key in (
                        keys.revoked_session(user_id, session_id),
                        keys.previous_revoked_session(user_id, session_id),
                    ):
                        pipe.set(key, b"1", ex=self._ttl + 60)
                return list(await pipe.execute())

        if not session_ids:
            return
        try:
            await self._breaker.call(write)
        except RedisError as error:
            log.warning("revoked sessions not written for previous-release replicas: %s", error)
        await asyncio.sleep(self._lease.seconds)
