"""/v1/admin: reversals (and, with the cache, warming)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from okane_core.app import reversals
from okane_core.app.warming import parse_duration, warm_now
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
    view = await reversals.reverse(
        state.okane, transaction_id=transaction_id, initiator_id=principal.user_id, note=body.note
    )
    return TransactionOut.of(view)


class WarmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Literal["balances", "profiles", "contacts", "history"]] = Field(
        default=["balances", "profiles", "contacts", "history"], min_length=1
    )
    users: int | None = Field(default=None, ge=1, le=1_000_000, description="the N most active")
    active_within: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]{0,6}[smhdw]?$", description="e.g. 24h, 7d"
    )


class WarmResult(BaseModel):
    targets: dict[str, int]
    written: dict[str, int]
    users: int
    seconds: float


@router.post("/cache/warm", responses=problem_responses(401, 403, 413, 422))
async def warm_cache(body: WarmRequest, _: Admin, state: State) -> WarmResult:
    """Warm the cache now, exactly as `okane warm` does."""
    window = None if body.active_within is None else parse_duration(body.active_within)
    assert state.settings.redis_url is not None
    summary = await warm_now(
        state.settings,
        state.okane.uow,
        state.settings.redis_url,
        targets=list(dict.fromkeys(body.targets)),
        users=body.users,
        active_within=window,
    )
    return WarmResult(**summary.as_dict())
