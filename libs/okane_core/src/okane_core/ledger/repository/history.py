"""SQL of what one user sees: their transactions, newest first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql
from okane_core.ledger.repository.rows import TXN_COLUMNS, view_of
from okane_core.ledger.views import HistoryPage, TransactionView

# A user sees every transaction that debits their wallet, and every one that credits it except
# a failed transfer (money that never arrived is the sender's business, not the recipient's).
_VISIBLE_CREDIT = "NOT (t.kind = 'p2p' AND t.status = 'failure')"


def _counterparty(account: str) -> str:
    """Join the other party's user (if any) of a transaction seen from ``account``."""
    return (
        f"LEFT JOIN accounts ca ON ca.id = CASE WHEN t.debit_account_id = {account} "
        "THEN t.credit_account_id ELSE t.debit_account_id END "
        "LEFT JOIN users cu ON cu.id = ca.user_id"
    )


def _history_sql(account: str, filters: str) -> str:
    """Newest-first page of one account's transactions: two index range scans (debit side,
    credit side) that each stop after ``:n`` rows, merged."""
    return (
        f"SELECT {TXN_COLUMNS}, cu.id, cu.name FROM ("
        f"(SELECT * FROM transactions t WHERE t.debit_account_id = {account}{filters} "
        "ORDER BY t.id DESC LIMIT :n) UNION ALL "
        f"(SELECT * FROM transactions t WHERE t.credit_account_id = {account} "
        f"AND {_VISIBLE_CREDIT}{filters} ORDER BY t.id DESC LIMIT :n)) t "
        f"{_counterparty(account)} ORDER BY t.id DESC LIMIT :n"
    )


async def transaction_for_account(
    session: AsyncSession, account_id: int, transaction_id: uuid.UUID
) -> TransactionView | None:
    row = (
        await session.execute(
            sql(
                f"SELECT {TXN_COLUMNS}, cu.id, cu.name FROM transactions t "
                f"{_counterparty(':acct')} "
                "WHERE t.id = :id AND (t.debit_account_id = :acct "
                f"OR (t.credit_account_id = :acct AND {_VISIBLE_CREDIT}))"
            ),
            {"id": transaction_id, "acct": account_id},
        )
    ).one_or_none()
    return None if row is None else view_of(row, account_id)


async def history(
    session: AsyncSession,
    account_id: int,
    *,
    limit: int,
    before: uuid.UUID | None,
    kind: str | None,
    status: str | None,
) -> HistoryPage:
    """Newest first, keyset-paginated on the time-ordered id. The cost depends on the page
    size, not on how many transactions the ledger holds."""
    filters = ""
    params: dict[str, Any] = {"acct": account_id, "n": limit + 1}
    if before is not None:
        filters += " AND t.id < :before"
        params["before"] = before
    if kind is not None:
        filters += " AND t.kind = :kind"
        params["kind"] = kind
    if status is not None:
        filters += " AND t.status = :status"
        params["status"] = status
    rows = (await session.execute(sql(_history_sql(":acct", filters)), params)).all()
    views = [view_of(row, account_id) for row in rows]
    return HistoryPage(data=views[:limit], has_more=len(views) > limit)


async def history_for_accounts(
    session: AsyncSession, owners: dict[int, uuid.UUID], *, limit: int
) -> dict[uuid.UUID, HistoryPage]:
    """The first history page of many accounts in one statement (for cache warming)."""
    rows = await session.execute(
        sql(
            f"SELECT a.acct, h.* FROM unnest(CAST(:accounts AS bigint[])) AS a(acct) "
            f"CROSS JOIN LATERAL ({_history_sql('a.acct', '')}) h"
        ),
        {"accounts": list(owners), "n": limit + 1},
    )
    views: dict[int, list[TransactionView]] = {account: [] for account in owners}
    for row in rows:
        account = int(row[0])
        views[account].append(view_of(row[1:], account))
    return {
        owners[account]: HistoryPage(data=found[:limit], has_more=len(found) > limit)
        for account, found in views.items()
    }
