"""The bank-webhook ASGI application factory:
``uvicorn --factory okane_bank_webhook.app:create_app``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from okane_bank_webhook.endpoints import WebhookState, declare_outcomes
from okane_bank_webhook.endpoints import router as webhook_router
from okane_bank_webhook.simulator import install_simulator
from okane_core.app import expiry, reconciliation, settlements
from okane_core.app.context import build_okane
from okane_core.banksim import BankStatus, status_url
from okane_core.cache.client import create_redis
from okane_core.db.engine import create_engine, observe_engine
from okane_core.observability import metrics
from okane_core.settings import Settings, load_settings
from okane_core.webhooks import decode_secret
from okane_web.health import router as health_router
from okane_web.limits import BodySizeLimit
from okane_web.observability import NATIVE_TELEMETRY, observe
from okane_web.problems import install_problem_handlers

log = logging.getLogger(__name__)


def _secrets(settings: Settings) -> list[str]:
    if settings.bank_webhook_secret is None:
        raise RuntimeError("OKANE_BANK_WEBHOOK_SECRET must be set (`okane up` generates one)")
    secrets = settings.bank_webhook_secret.get_secret_value().split()
    for secret in secrets:
        decode_secret(secret)  # fail at start-up, not on the first delivery
    return secrets


async def _expire_forever(state: WebhookState, bank: BankStatus | None) -> None:
    """Every few seconds: set aside top-ups and withdrawals past their deadline as unknown
    (holds kept), then ask the bank what became of the unknown ones; only a definite answer
    settles one. Safe with many replicas: rows another replica holds are skipped."""
    while True:
        await asyncio.sleep(state.settings.expiry_sweep_seconds)
        try:
            count = await expiry.expire_overdue(state.okane)
            if count:
                log.info("%d payments past their deadline wait for the bank", count)
            if bank is not None:
                answers = await settlements.inquire_unknown(state.okane, bank.ask)
                if answers:
                    log.info("bank status inquiries: %s", dict(answers))
            await expiry.drop_expired_keys(state.okane)
            await _sample(state)
        except Exception:
            log.exception("expiry sweep failed; retrying next round")


async def _sample(state: WebhookState) -> None:
    """Gauges of what waits for the bank and of the last ledger reconciliation."""
    pending = await settlements.pending_summary(state.okane.uow)
    for kind in ("topup", "withdrawal"):
        waiting = pending.get(kind)
        metrics.PENDING.labels(kind).set(waiting.count if waiting else 0)
        metrics.PENDING_OLDEST.labels(kind).set(waiting.oldest_seconds if waiting else 0)
    held = pending.get("withdrawal")
    metrics.PENDING_HELD.set(held.paise if held else 0)
    last = await reconciliation.last_check(state.okane.uow)
    if last is not None:
        metrics.LEDGER_CHECK_LAST_RUN.set(last.finished_at)
        metrics.LEDGER_CHECK_VIOLATIONS.set(last.violations)


def create_app(
    settings: Settings | None = None, *, span_processor: SpanProcessor | None = None
) -> FastAPI:
    settings = settings or load_settings()
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("OKANE_DATABASE_URL and OKANE_REDIS_URL must be set (`okane up` does)")
    database_url, redis_url = settings.database_url, settings.redis_url
    secrets = _secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, database_url, application_name="okane-bank-webhook")
        observe_engine(engine)
        redis = create_redis(redis_url)
        state = WebhookState(
            settings=settings, okane=build_okane(settings, engine, redis), secrets=secrets
        )
        app.state.webhook = state
        app.state.engine = engine
        await state.okane.start()
        url = status_url(settings)
        bank = BankStatus(url) if url else None
        sweeper = asyncio.create_task(_expire_forever(state, bank), name="expiry-sweeper")
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if bank is not None:
                await bank.close()
            await state.okane.close()
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        telemetry=NATIVE_TELEMETRY,
        title="OKANE bank webhook",
        version="1.0.0",
        description="Signed bank callbacks (Standard Webhooks) settling top-ups and withdrawals.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    observe(app, "bank-webhook", span_processor=span_processor)
    declare_outcomes()
    app.include_router(health_router)
    app.include_router(webhook_router)
    install_simulator(app, settings, secrets)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
