"""Bank callbacks applied to the ledger exactly once.

The event id is claimed in the same database transaction that applies the event, so a
redelivery (concurrent or later) finds the claim, waits for the first delivery to commit, and
gets the stored answer without a second effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import InvalidRequest, OkaneError
from okane_core.ledger.domain import Kind
from okane_core.ledger.repository import webhooks
from okane_core.ledger.settlement import settle

EVENT_TYPES: dict[str, tuple[Kind, bool]] = {
    "topup.succeeded": (Kind.TOPUP, True),
    "topup.failed": (Kind.TOPUP, False),
    "withdrawal.succeeded": (Kind.WITHDRAWAL, True),
    "withdrawal.failed": (Kind.WITHDRAWAL, False),
}

APPLIED = "applied"


@dataclass(frozen=True, slots=True)
class BankEventResult:
    # ``applied`` or the code of the error that refused it (``settlement_expired`` too, as
    # stored by releases that expired late answers: still replayed with its status)
    outcome: str
    response: dict[str, Any]
    replayed: bool


async def apply_bank_event(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    reference: str,
    amount: int,
) -> BankEventResult:
    if event_type not in EVENT_TYPES:
        raise InvalidRequest(f"type must be one of {', '.join(EVENT_TYPES)}", field="type")
    kind, success = EVENT_TYPES[event_type]
    stored = await webhooks.claim_webhook_event(
        session, event_id=event_id, event_type=event_type, reference=reference
    )
    if stored is not None:
        return BankEventResult(outcome=str(stored.get("outcome")), response=stored, replayed=True)

    transaction_id = None
    try:
        view = await settle(session, reference=reference, kind=kind, success=success, amount=amount)
    except OkaneError as refused:
        # Refusals happen before any write, so the claim and its answer still commit.
        outcome = refused.code
        response: dict[str, Any] = {
            "outcome": outcome,
            "event_id": event_id,
            "reference": reference,
            "message": refused.message,
        }
    else:
        transaction_id = view.id
        outcome = APPLIED
        response = {
            "outcome": outcome,
            "event_id": event_id,
            "reference": reference,
            "transaction": {
                "id": str(view.id),
                "kind": view.kind,
                "status": view.status,
                "failure_reason": view.failure_reason,
                "amount": view.amount,
            },
            "message": f"{kind} {view.status}",
        }
    await webhooks.record_webhook_outcome(
        session,
        event_id=event_id,
        outcome=outcome,
        transaction_id=transaction_id,
        response=response,
    )
    return BankEventResult(outcome=outcome, response=response, replayed=False)
