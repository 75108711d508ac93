"""What the user-api builds once at start-up and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from redis.asyncio import Redis

from okane_core.app.context import Okane
from okane_core.app.rate_limits import RateLimiter
from okane_core.cache.events import EventHub
from okane_core.settings import Settings
from okane_user_api.auth.passwords import PasswordHasher
from okane_user_api.auth.tokens import TokenIssuer


@dataclass
class AppState:
    settings: Settings
    okane: Okane  # the use cases' context: ledger, unit of work, cache
    redis: Redis
    tokens: TokenIssuer
    passwords: PasswordHasher
    limiter: RateLimiter
    hub: EventHub


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    # every authenticated request would pay for an attribute lookup.
    state: AppState = request.app.state.okane
    return state
