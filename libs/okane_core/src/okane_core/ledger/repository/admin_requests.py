"""SQL for admin requests: manual money movements awaiting a second admin."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql
from okane_core.errors import Conflict
from okane_core.ledger.views import AdminRequestView

_COLUMNS = (
    "id, action, transaction_id, note, requested_by, requested_at, status, decided_by, "
    "decided_at, result_id"
)


def _view(row: Any) -> AdminRequestView:
    return AdminRequestView(*row)


async def insert(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    action: str,
    transaction_id: uuid.UUID,
    note: str | None,
    requested_by: uuid.UUID,
) -> AdminRequestView:
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    sql(
                        "INSERT INTO admin_requests (id, action, transaction_id, note, "
                        "requested_by) VALUES (:id, :action, :transaction_id, :note, "
                        f":requested_by) RETURNING {_COLUMNS}"
                    ),
                    {
                        "id": request_id,
                        "action": action,
                        "transaction_id": transaction_id,
                        "note": note,
                        "requested_by": requested_by,
                    },
                )
            ).one()
    except IntegrityError as error:
        raise Conflict(
            "a request for this transaction is already waiting for approval",
            field="transaction_id",
        ) from error
    return _view(row)


async def lock(session: AsyncSession, request_id: uuid.UUID) -> AdminRequestView | None:
    row = (
        await session.execute(
            sql(f"SELECT {_COLUMNS} FROM admin_requests WHERE id = :id FOR UPDATE"),
            {"id": request_id},
        )
    ).one_or_none()
    return None if row is None else _view(row)


async def decide(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    status: str,
    decided_by: uuid.UUID,
    result_id: uuid.UUID | None,
) -> AdminRequestView:
    row = (
        await session.execute(
            sql(
                "UPDATE admin_requests SET status = :status, decided_by = :decided_by, "
                "decided_at = now(), result_id = :result_id WHERE id = :id "
                f"RETURNING {_COLUMNS}"
            ),
            {"id": request_id, "status": status, "decided_by": decided_by, "result_id": result_id},
        )
    ).one()
    return _view(row)


async def listed(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[AdminRequestView]:
    rows = await session.execute(
        sql(
            f"SELECT {_COLUMNS} FROM admin_requests "
            "WHERE CAST(:status AS text) IS NULL OR status = :status "
            "ORDER BY requested_at DESC, id LIMIT :limit"
        ),
        {"status": status, "limit": limit},
    )
    return [_view(row) for row in rows]


async def owners_of_accounts(session: AsyncSession, account_ids: list[int]) -> set[uuid.UUID]:
    """The users whose wallets these accounts are (system accounts have none)."""
    rows = await session.execute(
        sql(
            "SELECT user_id FROM accounts WHERE id = ANY(CAST(:ids AS bigint[])) "
            "AND user_id IS NOT NULL"
        ),
        {"ids": account_ids},
    )
    return set(rows.scalars())
