"""SQL of P2P transfers: one call of ``okane_transfers_v3`` (migration 0012) applies a batch of
transfers, whatever the connection: a unit of work's session or the batcher's raw one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncSession

# psycopg placeholders: the same text runs on a raw connection and through a session.
TRANSFERS_SQL = (
    "SELECT * FROM okane_transfers_v3(%(payer)s::uuid[], %(session)s::uuid[], "
    "%(key)s::text[], %(hash)s::bytea[], %(by)s::text[], %(ref)s::text[], "
    "%(amount)s::bigint[], %(note)s::text[], %(txn)s::uuid[], %(daily_limit)s::bigint, "
    "%(key_ttl)s::integer, %(timezone)s::text, %(new_payees)s::integer, "
    "%(new_payee_window)s::integer, %(verified_only)s::boolean, "
    "%(confirmed_users)s::uuid[], %(confirmed_versions)s::bigint[])"
)


async def run_in_session(session: AsyncSession, params: dict[str, Any]) -> Sequence[Any]:
    connection = await session.connection()
    result = await connection.exec_driver_sql(TRANSFERS_SQL, params)
    return result.all()


async def run_on_connection(connection: AsyncConnection[Any], params: dict[str, Any]) -> list[Any]:
    """One batch on a connection in autocommit mode: the call is its own transaction."""
    cursor = await connection.execute(TRANSFERS_SQL, params, prepare=True)
    return await cursor.fetchall()
