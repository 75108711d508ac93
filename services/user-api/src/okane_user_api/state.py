"""What the user-api builds once at start-up and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.cache.events import EventHub
from okane_core.cache.wiring import Cache, UnitsOfWork
from okane_core.db.engine import SessionFactory
from okane_core.ledger.service import Ledger
from okane_core.settings import Settings
from okane_user_api.auth.passwords import PasswordHasher
from okane_user_api.auth.ratelimit import RateLimiter
from okane_user_api.auth.tokens import TokenIssuer


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

    run: UnitsOfWork


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    # every authenticated request would pay for an attribute lookup.
    state: AppState = request.app.state.okane
    return state
