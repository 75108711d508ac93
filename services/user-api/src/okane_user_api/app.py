"""The user-api ASGI application factory: ``uvicorn --factory okane_user_api.app:create_app``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from opentelemetry.sdk.trace import SpanProcessor
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from okane_core.app.context import build_okane
from okane_core.app.notifications import Dispatcher, sender_for
from okane_core.app.rate_limits import RateLimiter
from okane_core.cache.client import create_redis
from okane_core.cache.events import EventHub
from okane_core.db.engine import create_engine, observe_engine
from okane_core.settings import Settings, load_settings
from okane_user_api.admin.endpoints import router as admin_router
from okane_user_api.auth.endpoints import router as auth_router
from okane_user_api.auth.endpoints import sessions_router
from okane_user_api.auth.oidc import create_oauth
from okane_user_api.auth.passwords import PasswordHasher
from okane_user_api.auth.revocation import Revocations
from okane_user_api.auth.tokens import TokenIssuer
from okane_user_api.events.endpoints import router as events_router
from okane_user_api.schemas import AMOUNT_MODELS
from okane_user_api.state import AppState
from okane_user_api.verification.endpoints import mailbox_router
from okane_user_api.verification.endpoints import router as verification_router
from okane_user_api.wallet.endpoints import money_router
from okane_user_api.wallet.endpoints import router as wallet_router
from okane_user_api.web import install_web
from okane_web.health import router as health_router
from okane_web.limits import BodySizeLimit
from okane_web.observability import NATIVE_TELEMETRY, observe
from okane_web.problems import install_problem_handlers


def _require(settings: Settings) -> tuple[str, str, str]:
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("OKANE_DATABASE_URL and OKANE_REDIS_URL must be set (`okane up` does)")
    if settings.jwt_secret is None:
        raise RuntimeError("OKANE_JWT_SECRET must be set (`okane up` generates a local one)")
    return settings.database_url, settings.redis_url, settings.jwt_secret.get_secret_value()


def _session_secret(settings: Settings, jwt_secret: str) -> str:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    return hmac.new(jwt_secret.encode(), b"okane-oidc-state", hashlib.sha256).hexdigest()


def create_app(
    settings: Settings | None = None, *, span_processor: SpanProcessor | None = None
) -> FastAPI:
    settings = settings or load_settings()
    database_url, redis_url, jwt_secret = _require(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, database_url, application_name="okane-user-api")
        observe_engine(engine)
        redis = create_redis(redis_url)
        okane = build_okane(settings, engine, redis)
        await okane.start()
        hub = EventHub(redis, okane.cache.store.breaker)
        hub.start()
        dispatcher = Dispatcher(okane.uow, sender_for(settings))
        dispatcher.start()
        state = AppState(
            settings=settings,
            okane=okane,
            redis=redis,
            tokens=TokenIssuer(jwt_secret, lifetime_seconds=settings.access_token_seconds),
            passwords=PasswordHasher(),
            limiter=RateLimiter(okane.uow),
            hub=hub,
        )
        app.state.okane = state
        app.state.engine = engine
        app.state.revocations = Revocations(
            redis,
            okane.uow,
            okane.cache.lease,
            okane.cache.store.breaker,
            ttl_seconds=settings.access_token_seconds,
        )
        app.state.oauth = create_oauth(settings)
        try:
            yield
        finally:
            await dispatcher.stop()
            await hub.stop()
            await okane.close()
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        telemetry=NATIVE_TELEMETRY,
        title="OKANE user API",
        version="1.0.0",
        description="Wallet, payments and history. Amounts are integer paise (1 INR = 100 paise).",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    observe(app, "user-api", span_processor=span_processor)
    # Routes are matched in order: the money and wallet routes, the hot ones, first.
    app.include_router(money_router)
    app.include_router(wallet_router)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(sessions_router)
    app.include_router(admin_router)
    app.include_router(events_router)
    app.include_router(verification_router)
    if settings.dev_mailbox:
        app.include_router(mailbox_router)
    install_web(app, settings, secret=jwt_secret)
    app.add_middleware(
        SignInSessions,
        prefixes=("/v1/auth/google/", "/login/google"),
        secret_key=_session_secret(settings, jwt_secret),
        https_only=settings.public_url.startswith("https://"),
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    document_limits(app, settings)
    return app


class SignInSessions:
    """Starlette's signed session cookie, where the Google sign-in keeps its state between the
    redirect and the callback, and only there: every other request (money movements among
    them) skips the cookie's parsing and the check of every response."""

    def __init__(
        self, app: ASGIApp, *, prefixes: tuple[str, ...], secret_key: str, https_only: bool
    ) -> None:
        self.app = app
        self.with_session = SessionMiddleware(
            app,
            secret_key=secret_key,
            session_cookie="okane_oidc",
            max_age=600,
            same_site="lax",
            https_only=https_only,
        )
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.with_session(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Write the configured per-transaction limit into the OpenAPI document's amounts."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for name in AMOUNT_MODELS:
                amount = schema["components"]["schemas"][name]["properties"]["amount"]
                amount["maximum"] = settings.max_transaction_amount
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
