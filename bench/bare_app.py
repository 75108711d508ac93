"""The baseline for cached reads: the same server stack (uvicorn + FastAPI) answering with one
Redis GET and nothing else (no auth, no JSON model).

``uvicorn --factory bench.bare_app:create_app``
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from redis.asyncio import Redis

from okane_web.observability import NATIVE_TELEMETRY

KEY = "okane:bench:bare"


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(os.environ["OKANE_REDIS_URL"])
        await app.state.redis.set(KEY, b'{"currency":"INR","available":100000,"locked":0}')
        yield
        await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan, telemetry=NATIVE_TELEMETRY)  # as the services run

    @app.get("/v1/wallet")
    async def wallet() -> Response:
        body = await app.state.redis.get(KEY)
        return Response(body, media_type="application/json")

    return app
