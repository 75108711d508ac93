"""SQL of bank events, deduplicated by the provider's event id."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql


async def claim_webhook_event(
    session: AsyncSession, *, event_id: str, event_type: str, reference: str | None
) -> dict[str, Any] | None:
    """Insert the event id; ``None`` when this delivery is the first, else the stored answer.

    A concurrent delivery of the same id waits on the primary key until the first commits.
    """
    inserted = (
        await session.execute(
            sql(
                "INSERT INTO webhook_events (id, type, reference, outcome, response) "
                "VALUES (:id, :type, :reference, 'pending', '{}'::jsonb) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1"
            ),
            {"id": event_id, "type": event_type, "reference": reference},
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return None
    stored = (
        await session.execute(
            sql("SELECT response FROM webhook_events WHERE id = :id"), {"id": event_id}
        )
    ).scalar_one()
    return dict(stored)


async def record_webhook_outcome(
    session: AsyncSession,
    *,
    event_id: str,
    outcome: str,
    transaction_id: uuid.UUID | None,
    response: dict[str, Any],
) -> None:
    await session.execute(
        sql(
            "UPDATE webhook_events SET outcome = :outcome, transaction_id = :txn, "
            "response = CAST(:response AS jsonb) WHERE id = :id"
        ),
        {
            "id": event_id,
            "outcome": outcome,
            "txn": transaction_id,
            "response": json.dumps(response),
        },
    )
