"""SQL of the accounts table: wallets, system accounts, balances."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import WalletChange, changes_of
from okane_core.db.sql import sql
from okane_core.ledger.domain import BalanceChange
from okane_core.ledger.views import AccountRow, Wallet


async def insert_account(
    session: AsyncSession, *, kind: str, currency: str, user_id: uuid.UUID | None, code: str | None
) -> int:
    result = await session.execute(
        sql(
            "INSERT INTO accounts (kind, user_id, code, currency) "
            "VALUES (:kind, :user_id, :code, :currency) RETURNING id"
        ),
        {"kind": kind, "user_id": user_id, "code": code, "currency": currency},
    )
    return int(result.scalar_one())


async def system_account_id(session: AsyncSession, code: str) -> int | None:
    result = await session.execute(
        sql("SELECT id FROM accounts WHERE code = :code"), {"code": code}
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def wallet_of(session: AsyncSession, user_id: uuid.UUID) -> Wallet | None:
    row = (
        await session.execute(
            sql(
                "SELECT id, user_id, currency, available, locked, version "
                "FROM accounts WHERE user_id = :user_id"
            ),
            {"user_id": user_id},
        )
    ).one_or_none()
    return None if row is None else Wallet(*row)


async def account(session: AsyncSession, account_id: int) -> AccountRow | None:
    row = (
        await session.execute(
            sql(
                "SELECT id, kind, user_id, code, currency, available, locked, version "
                "FROM accounts WHERE id = :id"
            ),
            {"id": account_id},
        )
    ).one_or_none()
    return None if row is None else AccountRow(*row)


async def apply_balance_changes(session: AsyncSession, changes: Sequence[BalanceChange]) -> None:
    """Apply every delta in one statement; each touched row's version goes up by one."""
    merged: dict[int, list[int]] = {}
    for change in changes:
        deltas = merged.setdefault(change.account_id, [0, 0])
        deltas[0] += change.available
        deltas[1] += change.locked
    ids = sorted(merged)
    rows = await session.execute(
        sql(
            "UPDATE accounts a SET available = a.available + d.available, "
            "locked = a.locked + d.locked, version = a.version + 1, updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:available AS bigint[]), "
            "CAST(:locked AS bigint[])) AS d(id, available, locked) WHERE a.id = d.id "
            "RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency"
        ),
        {
            "ids": ids,
            "available": [merged[i][0] for i in ids],
            "locked": [merged[i][1] for i in ids],
        },
    )
    wallets = changes_of(session.info).wallets
    for row in rows:
        if row.user_id is not None:
            wallets[row.user_id] = WalletChange(*row)


async def sent_today(session: AsyncSession, account_id: int, *, timezone: str) -> int | None:
    """What the (locked) account sent today by its counter (migration 0012); None when a later
    day is counted already (this transaction began before that day's midnight)."""
    result = await session.execute(
        sql(
            "SELECT CASE WHEN out_day > (now() AT TIME ZONE :tz)::date THEN NULL "
            "WHEN out_day = (now() AT TIME ZONE :tz)::date THEN out_spent ELSE 0 END "
            "FROM accounts WHERE id = :a"
        ),
        {"a": account_id, "tz": timezone},
    )
    value = result.scalar_one()
    return None if value is None else int(value)


async def count_sent(session: AsyncSession, account_id: int, amount: int, *, timezone: str) -> None:
    """Add ``amount`` to the (locked) account's counter of the day (a new day starts at 0); a
    transaction of a day before the counted one leaves it alone."""
    await session.execute(
        sql(
            "UPDATE accounts SET out_spent = CASE "
            "WHEN out_day > (now() AT TIME ZONE :tz)::date THEN out_spent "
            "WHEN out_day = (now() AT TIME ZONE :tz)::date THEN out_spent + :amount "
            "ELSE :amount END, "
            "out_day = greatest(out_day, (now() AT TIME ZONE :tz)::date) WHERE id = :a"
        ),
        {"a": account_id, "amount": amount, "tz": timezone},
    )


async def uncount_sent(
    session: AsyncSession, account_id: int, amount: int, *, sent_at: datetime, timezone: str
) -> None:
    """Give back what a failed debit counted, if its day is still the counted one."""
    await session.execute(
        sql(
            "UPDATE accounts SET out_spent = out_spent - :amount "
            "WHERE id = :a AND out_day = (CAST(:at AS timestamptz) AT TIME ZONE :tz)::date"
        ),
        {"a": account_id, "amount": amount, "at": sent_at, "tz": timezone},
    )


async def database_now(session: AsyncSession) -> datetime:
    return (await session.execute(sql("SELECT now()"))).scalar_one()  # type: ignore[no-any-return]


async def wallets_of_users(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[Wallet]:
    rows = await session.execute(
        sql(
            "SELECT id, user_id, currency, available, locked, version FROM accounts "
            "WHERE user_id = ANY(:ids)"
        ),
        {"ids": user_ids},
    )
    return [Wallet(*row) for row in rows]


async def recently_active_users(
    session: AsyncSession, *, limit: int | None, active_within: timedelta | None
) -> list[uuid.UUID]:
    """Owners of wallets, most recently changed first (the hot set cache warming loads)."""
    statement = "SELECT user_id FROM accounts WHERE kind = 'wallet'"
    params: dict[str, Any] = {}
    if active_within is not None:
        statement += " AND updated_at > now() - :window"
        params["window"] = active_within
    statement += " ORDER BY updated_at DESC, id DESC"
    if limit is not None:
        statement += " LIMIT :limit"
        params["limit"] = limit
    return list((await session.execute(sql(statement), params)).scalars())
