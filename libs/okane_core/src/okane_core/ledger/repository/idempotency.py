"""SQL of idempotency keys."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


async def claim_idempotency_key(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str,
    operation: str,
    request_hash: bytes,
    ttl_seconds: int,
    transaction_id: uuid.UUID,
) -> tuple[bool, str, bytes, uuid.UUID | None]:
    """Claim ``key`` for this request, or find who holds it.

    Returns ``(claimed, operation, request_hash, transaction_id)``. A concurrent request with the
    same key waits on the unique index until the first one commits (then sees its result) or
    rolls back (then claims the key itself). An expired key is taken over.

    The claim names the transaction the request is about to create (``transaction_id``); the
    foreign key is checked at commit, when that transaction exists.
    """
    params = {
        "user_id": user_id,
        "key": key,
        "operation": operation,
        "hash": request_hash,
        "ttl": ttl_seconds,
        "txn": transaction_id,
    }
    claimed = (
        await session.execute(
            sql(
                "INSERT INTO idempotency_keys (user_id, key, operation, request_hash, "
                "transaction_id, expires_at) VALUES (:user_id, :key, :operation, :hash, :txn, "
                "now() + make_interval(secs => :ttl)) "
                "ON CONFLICT (user_id, key) DO UPDATE SET operation = EXCLUDED.operation, "
                "request_hash = EXCLUDED.request_hash, transaction_id = EXCLUDED.transaction_id, "
                "created_at = now(), expires_at = EXCLUDED.expires_at "
                "WHERE idempotency_keys.expires_at <= now() RETURNING 1"
            ),
            params,
        )
    ).scalar_one_or_none()
    if claimed is not None:
        return True, operation, request_hash, transaction_id
    row = (
        await session.execute(
            sql(
                "SELECT operation, request_hash, transaction_id FROM idempotency_keys "
                "WHERE user_id = :user_id AND key = :key"
            ),
            params,
        )
    ).one()
    return False, row.operation, bytes(row.request_hash), row.transaction_id


async def delete_expired_idempotency_keys(session: AsyncSession, *, limit: int) -> int:
    result = await session.execute(
        sql(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
            "WHERE expires_at <= now() LIMIT :limit))"
        ),
        {"limit": limit},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
