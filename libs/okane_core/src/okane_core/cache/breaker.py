"""A circuit breaker around Redis.

Closed: every call goes to Redis. After ``threshold`` consecutive failures it opens: calls are
skipped (callers fall back to PostgreSQL) for ``cooldown`` seconds. Then one probe is let through
(half-open); success closes the breaker, failure opens it again. Redis trouble therefore costs at
most a few short timeouts, never a stalled request.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

T = TypeVar("T")


class BreakerOpen(RedisError):
    """Redis was not called: the circuit breaker is open."""


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._probing = False

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """Whether a call may go to Redis now."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._set(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> bool:
        """Record a success; returns True when this success closed an open breaker."""
        self._failures = 0
        self._probing = False
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)
            return True
        return False

    def failed(self) -> None:
        self._failures += 1
        self._probing = False
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    async def call(self, call: Callable[[], Awaitable[T]]) -> T:
        """One Redis call through the breaker: while it is open, fail at once (BreakerOpen,
        a RedisError, so callers fall back as for any Redis failure)."""
        if not self.allow():
            raise BreakerOpen("Redis is skipped while the breaker is open")
        try:
            result = await call()
        except RedisError:
            self.failed()
            raise
        self.succeeded()
        return result

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
