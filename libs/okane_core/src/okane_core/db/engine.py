"""Engines and units of work.

Only the unit-of-work boundary commits. Each unit of work is one short database transaction;
serialization failures and deadlocks are retried a bounded number of times with jittered
back-off, and every other database error is translated once into an OKANE error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from okane_core.db.changes import Changes, changes_of
from okane_core.db.errors import (
    DEADLOCK_DETECTED,
    is_connection_lost,
    is_retryable,
    sqlstate,
    translate_db_error,
)
from okane_core.observability import metrics
from okane_core.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]


def normalize_url(url: str) -> str:
    """Use psycopg 3 whatever PostgreSQL URL form was given."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _options(settings: Settings) -> str:
    """The ledger's timeouts, set once per connection (startup options), not per transaction, so
    they cost no round trip: a stuck lock fails the caller after ``lock_timeout``."""
    return (
        f"-c lock_timeout={settings.lock_timeout_ms} "
        f"-c statement_timeout={settings.statement_timeout_ms} "
        f"-c idle_in_transaction_session_timeout={settings.statement_timeout_ms * 3} "
        "-c timezone=UTC"
    )


def create_engine(settings: Settings, url: str, *, application_name: str = "okane") -> AsyncEngine:
    """An engine whose every connection carries the ledger's timeouts."""
    options = _options(settings)
    # Looked up at call time, so tracing (which wraps it) covers every engine made after it is on.
    return sqlalchemy_asyncio.create_async_engine(
        normalize_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"options": options, "application_name": application_name},
    )


def observe_engine(engine: AsyncEngine) -> None:
    """Count statements and pool use of this engine in the process's metrics."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _statement(*_: object) -> None:
        metrics.DB_STATEMENTS.inc()

    @event.listens_for(sync_engine.pool, "checkout")
    def _checkout(*_: object) -> None:
        metrics.DB_POOL_CONNECTIONS.labels("in_use").inc()
        metrics.DB_POOL_CONNECTIONS.labels("idle").dec()

    @event.listens_for(sync_engine.pool, "checkin")
    def _checkin(*_: object) -> None:
        metrics.DB_POOL_CONNECTIONS.labels("in_use").dec()
        metrics.DB_POOL_CONNECTIONS.labels("idle").inc()

    @event.listens_for(sync_engine.pool, "close")
    def _close(*_: object) -> None:
        metrics.DB_POOL_CONNECTIONS.labels("idle").dec()

    @event.listens_for(sync_engine.pool, "connect")
    def _connect(*_: object) -> None:
        metrics.DB_POOL_CONNECTIONS.labels("idle").inc()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One database transaction: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def run_in_transaction(
    sessions: SessionFactory,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    max_retries: int = 5,
    on_commit: Callable[[Changes], Awaitable[object]] | None = None,
) -> T:
    """Run ``work`` in its own unit of work, retrying deadlocks and serialization failures.

    ``work`` must be safe to run again from the start: it gets a fresh session each attempt.
    ``on_commit`` receives what the committed unit of work changed (cache invalidation, live
    events); it runs after the commit and before the caller sees the result.
    """
    attempt = 0
    while True:
        started = time.perf_counter()
        try:
            async with unit_of_work(sessions) as session:
                result = await work(session)
                info = session.info
        except DBAPIError as error:
            metrics.DB_TRANSACTION_DURATION.labels("error").observe(time.perf_counter() - started)
            if is_retryable(error) and attempt < max_retries:
                metrics.DB_RETRIES.labels(
                    "lost"
                    if is_connection_lost(error)
                    else "deadlock"
                    if sqlstate(error) == DEADLOCK_DETECTED
                    else "serialization"
                ).inc()
                attempt += 1
                delay = min(0.2, 0.005 * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311
                log.info("retrying after %s (attempt %d)", error.orig, attempt)
                await asyncio.sleep(delay)
                continue
            translated = translate_db_error(error)
            if translated is None:
                raise
            raise translated from error
        except Exception:
            metrics.DB_TRANSACTION_DURATION.labels("rolled_back").observe(
                time.perf_counter() - started
            )
            raise
        metrics.DB_TRANSACTION_DURATION.labels("committed").observe(time.perf_counter() - started)
        if on_commit is not None:
            changes = changes_of(info)
            if changes:
                await on_commit(changes)
        return result


def raw_connector(
    settings: Settings, url: str, *, application_name: str
) -> Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]:
    """Opens raw psycopg connections in autocommit mode, with the engine's timeouts, for the
    hot path's batches (each statement its own transaction; statements prepared on first use)."""
    conninfo = make_url(normalize_url(url)).set(drivername="postgresql")
    dsn = conninfo.render_as_string(hide_password=False)

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            dsn,
            autocommit=True,
            prepare_threshold=0,
            connect_timeout=5,
            options=_options(settings),
            application_name=application_name,
        )

    return connect
