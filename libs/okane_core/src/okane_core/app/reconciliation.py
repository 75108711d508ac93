"""Use case: check every ledger invariant over the whole database (``ledger.reconcile``), in
one read-only snapshot that can run beside live traffic."""

from __future__ import annotations

from okane_core.db.uow import UnitOfWork
from okane_core.ledger.reconcile import ReconciliationReport, reconcile


async def check_ledger(uow: UnitOfWork) -> ReconciliationReport:
    async with uow.sessions() as session, session.begin():
        return await reconcile(session)
