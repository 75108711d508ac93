"""The SQL of the reconciliation's own record (``ledger_checks``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class LastCheck:
    finished_at: float  # Unix time
    violations: int


async def record(session: AsyncSession, summary: dict[str, Any]) -> None:
    await session.execute(
        text(
            "INSERT INTO ledger_checks (violations, checks, summary) "
            "VALUES (:violations, :checks, CAST(:summary AS jsonb))"
        ),
        {
            "violations": summary["violations"],
            "checks": summary["checks"],
            "summary": json.dumps(summary, sort_keys=True, default=str),
        },
    )


async def last(session: AsyncSession) -> LastCheck | None:
    row = (
        await session.execute(
            text(
                "SELECT extract(epoch FROM finished_at), violations FROM ledger_checks "
                "ORDER BY finished_at DESC LIMIT 1"
            )
        )
    ).one_or_none()
    return None if row is None else LastCheck(float(row[0]), int(row[1]))
