"""What the user-api builds once at start-up and hands to every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from okane_core.cache.events import EventHub
from okane_core.cache.wiring import Cache
from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger.service import Ledger
from okane_core.observability.ledger import record_committed
from okane_core.settings import Settings
from okane_user_api.auth.passwords import PasswordHasher
from okane_user_api.auth.ratelimit import RateLimiter
from okane_user_api.auth.tokens import TokenIssuer

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: Redis
    ledger: Ledger
    tokens: TokenIssuer
    passwords: PasswordHasher
    limiter: RateLimiter
    cache: Cache
    hub: EventHub

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One unit of work; after it commits, the cache and live clients hear of it."""
        return await run_in_transaction(
            self.sessions,
            work,
            max_retries=self.settings.max_retries,
            on_commit=self.committed,
        )

    async def committed(self, changes: Changes) -> None:
        record_committed(changes)
        await self.cache.committed(changes)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.okane
    return state
