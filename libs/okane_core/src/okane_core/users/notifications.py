"""SQL of the notification outbox: written in the transaction that has something to say,
delivered afterwards by the configured sender."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    user_id: uuid.UUID | None
    channel: str
    address: str
    kind: str
    subject: str
    body: str
    created_at: datetime
    sent_at: datetime | None


async def enqueue(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    channel: str,
    address: str,
    kind: str,
    subject: str,
    body: str,
) -> None:
    await session.execute(
        sql(
            "INSERT INTO notifications (user_id, channel, address, kind, subject, body) "
            "VALUES (:user, :channel, :address, :kind, :subject, :body)"
        ),
        {
            "user": user_id,
            "channel": channel,
            "address": address,
            "kind": kind,
            "subject": subject,
            "body": body,
        },
    )


async def claim_unsent(session: AsyncSession, *, limit: int) -> list[NotificationRecord]:
    """Unsent notifications, oldest first, locked so that one dispatcher sends each."""
    rows = await session.execute(
        sql(
            "SELECT id, user_id, channel, address, kind, subject, body, created_at, sent_at "
            "FROM notifications WHERE sent_at IS NULL AND attempts < 20 "
            "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"limit": limit},
    )
    return [NotificationRecord(*row) for row in rows]


async def mark_sent(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(
        sql("UPDATE notifications SET sent_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": ids},
    )


async def count_failure(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(
        sql(
            "UPDATE notifications SET attempts = attempts + 1 "
            "WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": ids},
    )


async def recent(
    session: AsyncSession, *, address: str | None, limit: int
) -> list[NotificationRecord]:
    """The newest notifications (to ``address``, or to anyone), newest first."""
    rows = await session.execute(
        sql(
            "SELECT id, user_id, channel, address, kind, subject, body, created_at, sent_at "
            "FROM notifications WHERE CAST(:address AS text) IS NULL OR address = :address "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"address": address, "limit": limit},
    )
    return [NotificationRecord(*row) for row in rows]
