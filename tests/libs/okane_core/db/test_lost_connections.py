"""A unit of work whose connection is terminated by the server runs again on a new one; when the
database stays unreachable the caller gets ``database_unavailable`` (a 503), never a bug."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.errors import DatabaseUnavailable

KILL_MYSELF = text("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_work_whose_connection_is_terminated_runs_again(sessions: SessionFactory) -> None:
    attempts = 0

    async def work(session: AsyncSession) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await session.execute(KILL_MYSELF)
        return int((await session.execute(text("SELECT 42"))).scalar_one())

    assert await run_in_transaction(sessions, work) == 42
    assert attempts == 2


async def test_a_connection_lost_every_time_is_unavailable(sessions: SessionFactory) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(KILL_MYSELF)

    with pytest.raises(DatabaseUnavailable):
        await run_in_transaction(sessions, work, max_retries=2)
