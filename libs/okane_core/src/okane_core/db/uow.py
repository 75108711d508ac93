"""The unit of work: the one way OKANE reads from and writes to PostgreSQL outside tests.

A write runs in one short database transaction (``engine.run_in_transaction``: bounded retries
of deadlocks and serialization failures, database errors translated once), and after it commits
the commit hook hears what it changed (metrics, cache invalidation, live events) before the
caller sees the result. Work that reaches the database by another road (a raw psycopg batch)
reports its changes to :meth:`UnitOfWork.committed`, so the same hook runs for every write.
A read gets a session with no transaction to commit.

Use cases (``okane_core.app``) own their unit of work; repositories take the session they are
given and never commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import Changes
from okane_core.db.engine import SessionFactory, run_in_transaction

T = TypeVar("T")
# Hears what a write committed; returns how long its answer must wait (see app/lease.py).
CommitHook = Callable[[Changes], Awaitable[float]]


async def _nothing(_: Changes) -> float:
    return 0.0


class UnitOfWork:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        on_commit: CommitHook = _nothing,
        max_retries: int = 5,
    ) -> None:
        self.sessions = sessions
        self._on_commit = on_commit
        self._max_retries = max_retries

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction and commit it; ``work`` may run more than once (each
        attempt on a fresh session), so it must start from scratch every time."""
        return await run_in_transaction(
            self.sessions, work, max_retries=self._max_retries, on_commit=self._hook
        )

    async def _hook(self, changes: Changes) -> None:
        delay = await self._on_commit(changes)
        if delay > 0:
            await asyncio.sleep(delay)

    async def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run read-only ``work`` on a session of its own."""
        async with self.sessions() as session:
            return await work(session)

    async def committed(self, changes: Changes) -> float:
        """Tell the commit hook what a write committed by other means changed; returns how
        long the answers must wait."""
        if changes:
            return await self._on_commit(changes)
        return 0.0
