"""/v1/admin: reversals (and, with the cache, warming)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from okane_core.db.engine import run_in_transaction
from okane_user_api.deps import Admin, State
from okane_user_api.schemas import ReversalRequest, TransactionOut
from okane_web.problems import problem_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/transactions/{transaction_id}/reversal",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        401,
        403,
        404,
        409,
        413,
        422,
        d409="not reversible, or already reversed",
        d422="invalid input, or the money is no longer there",
    ),
)
async def reverse(
    transaction_id: uuid.UUID, body: ReversalRequest, principal: Admin, state: State
) -> TransactionOut:
    """Undo a successful transaction with an opposite one. Each can be reversed once."""
    view = await run_in_transaction(
        state.sessions,
        lambda s: state.ledger.reverse(
            s, transaction_id=transaction_id, initiator_id=principal.user_id, note=body.note
        ),
    )
    return TransactionOut.of(view)
