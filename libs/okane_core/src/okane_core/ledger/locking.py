"""Row locks, in one place.

Every operation that moves money locks every account row it touches with ``SELECT ... FOR NO KEY
UPDATE`` in ascending id order, so two operations over the same accounts always queue in the same
order and cannot deadlock. Transactions being settled are locked first (by reference), then their
accounts: the same order on every path.

Why ``FOR NO KEY UPDATE`` rather than ``FOR UPDATE``: both exclude each other and every writer
of the row, but ``FOR UPDATE`` also blocks the ``FOR KEY SHARE`` lock that a foreign-key check
takes on the referenced row. Inserting a transaction that merely *references* an account (a
pending top-up names the bank clearing account) would then queue behind whoever holds that
account, outside the id order, and deadlock against a settlement holding it. We never change an
account's key, so the weaker lock is exact (it is the lock a plain UPDATE takes).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.ledger.views import AccountRow
from okane_core.observability import metrics

_LOCK_ACCOUNTS = text(
    "SELECT id, kind, user_id, code, currency, available, locked, version "
    "FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"
)


async def lock_accounts(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, AccountRow]:
    """Lock the given accounts in ascending id order and return their current rows.

    The ``ORDER BY id`` makes PostgreSQL take the row locks in that order.
    """
    ids = sorted(set(account_ids))
    started = time.perf_counter()
    rows = (await session.execute(_LOCK_ACCOUNTS, {"ids": ids})).all()
    metrics.LOCK_WAIT.observe(time.perf_counter() - started)
    found = {row.id: AccountRow(*row) for row in rows}
    missing = set(ids) - found.keys()
    if missing:
        raise LookupError(f"accounts {sorted(missing)} do not exist")
    return found
