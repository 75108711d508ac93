"""The audit log: one append-only row per admin act (migration 0008 refuses changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


async def record(
    session: AsyncSession, *, actor: str, action: str, subject: str, detail: dict[str, Any]
) -> None:
    """Write one entry in the caller's transaction: the act and its record commit together."""
    await session.execute(
        sql(
            "INSERT INTO audit_log (actor, action, subject, detail) "
            "VALUES (:actor, :action, :subject, CAST(:detail AS jsonb))"
        ),
        {"actor": actor, "action": action, "subject": subject, "detail": json.dumps(detail)},
    )


async def entries(session: AsyncSession, *, limit: int, subject: str | None) -> list[AuditRecord]:
    """The most recent entries first, optionally of one subject."""
    rows = await session.execute(
        sql(
            "SELECT id, at, actor, action, subject, detail FROM audit_log "
            "WHERE CAST(:subject AS text) IS NULL OR subject = :subject "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"subject": subject, "limit": limit},
    )
    return [AuditRecord(*row) for row in rows]
