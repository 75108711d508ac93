"""Fixed-window rate limits (login attempts, recipient look-ups), kept in PostgreSQL so they hold
across replicas and survive cache eviction and Redis restarts. Each check is one statement on a
path that queries the database anyway."""

from __future__ import annotations

from okane_core.db.uow import UnitOfWork
from okane_core.errors import RateLimited
from okane_core.users import rate_limits


def _key(scope: str, subject: str) -> str:
    """``scope`` says what is limited (``login-address``), ``subject`` whom."""
    return f"{scope}:{subject}"


class RateLimiter:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def peek(self, scope: str, subject: str, limit: int) -> int | None:
        """Seconds to wait if ``subject`` is over ``limit`` already, else None."""
        found = await self._uow.read(lambda s: rate_limits.peek(s, _key(scope, subject)))
        if found is None or found[0] < limit:
            return None
        return max(found[1], 1)

    async def hit(self, scope: str, subject: str, limit: int, window: int) -> int | None:
        """Count one event; return seconds to wait if this one is over ``limit``."""
        count, left = await self._uow.write(
            lambda s: rate_limits.hit(s, _key(scope, subject), window)
        )
        return max(left, 1) if count > limit else None

    async def enforce(
        self, scope: str, subject: str, limit: int, window: int, *, message: str
    ) -> None:
        """Count one event; past ``limit``, refuse it (``RateLimited`` with when to return)."""
        wait = await self.hit(scope, subject, limit, window)
        if wait is not None:
            raise RateLimited(message, retry_after=wait)

    async def reset(self, scope: str, subject: str) -> None:
        await self._uow.write(lambda s: rate_limits.reset(s, _key(scope, subject)))
