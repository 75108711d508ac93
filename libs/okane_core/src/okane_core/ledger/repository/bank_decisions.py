"""The SQL of the simulated bank's own record (``bank_simulator_decisions``)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def record(session: AsyncSession, reference: str, *, succeeded: bool) -> None:
    """A bank decides once: a second decision for the same payment is ignored."""
    await session.execute(
        text(
            "INSERT INTO bank_simulator_decisions (reference, outcome) VALUES (:reference, "
            ":outcome) ON CONFLICT (reference) DO NOTHING"
        ),
        {"reference": reference, "outcome": "succeeded" if succeeded else "failed"},
    )


async def outcome(session: AsyncSession, reference: str) -> str | None:
    found = await session.execute(
        text("SELECT outcome FROM bank_simulator_decisions WHERE reference = :reference"),
        {"reference": reference},
    )
    value = found.scalar_one_or_none()
    return None if value is None else str(value)
