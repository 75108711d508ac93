"""Use case: check every ledger invariant over the whole database (``ledger.reconcile``), in
one read-only snapshot that can run beside live traffic, and record the result
(``ledger_checks``) for the metrics and alerts that watch it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.uow import UnitOfWork
from okane_core.ledger.reconcile import ReconciliationReport, reconcile
from okane_core.ledger.repository import checks


async def check_ledger(uow: UnitOfWork) -> ReconciliationReport:
    async with uow.sessions() as session, session.begin():
        report = await reconcile(session)
    summary = report.summary()

    async def note(session: AsyncSession) -> None:
        await checks.record(session, summary)

    await uow.write(note)
    return report


async def last_check(uow: UnitOfWork) -> checks.LastCheck | None:
    return await uow.read(checks.last)
