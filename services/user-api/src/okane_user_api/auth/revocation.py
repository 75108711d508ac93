"""Is an access token's session still live?

Access tokens are checked against a Redis set of revoked sessions, so an authenticated read costs
no database query. Redis holds each revocation for as long as any access token of that session
can live. When Redis cannot answer, the database is asked instead: a revoked session is never
accepted, and no request fails because Redis is down.
"""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from okane_core.app import logins
from okane_core.cache import keys
from okane_core.db.uow import UnitOfWork

log = logging.getLogger(__name__)


class Revocations:
    def __init__(self, redis: Redis, uow: UnitOfWork, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._uow = uow
        self._ttl = ttl_seconds

    async def is_revoked(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        try:
            # One round trip, one key per command: the two names have different hash tags.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(keys.revoked_session(user_id, session_id))
                pipe.exists(keys.previous_revoked_session(user_id, session_id))
                return any(await pipe.execute())
        except RedisError as error:
            log.warning("revocation check fell back to the database: %s", error)
        return not await logins.is_active(self._uow, session_id)

    async def publish(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """Called after the revocation committed to the database."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in (
                    keys.revoked_session(user_id, session_id),
                    keys.previous_revoked_session(user_id, session_id),
                ):
                    pipe.set(key, b"1", ex=self._ttl + 60)
                await pipe.execute()
        except RedisError:
            # The database already holds the revocation, and checks fall back to it whenever
            # Redis is unavailable; a Redis that is up but missed this write would accept the
            # token until it expires, so say so loudly.
            log.exception("could not record revoked session %s in Redis", session_id)
