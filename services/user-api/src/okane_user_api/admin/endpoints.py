"""/v1/admin: reversal requests a second admin decides, the audit log, and cache warming."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from okane_core.app import admin
from okane_core.app.warming import parse_duration, warm_now
from okane_core.ledger.views import AdminRequestView
from okane_user_api.deps import Admin, State
from okane_user_api.schemas import ReversalRequest
from okane_web.problems import problem_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminRequestOut(BaseModel):
    id: uuid.UUID
    action: Literal["reversal"]
    transaction_id: uuid.UUID
    note: str | None
    status: Literal["pending", "approved", "rejected"]
    requested_by: uuid.UUID
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    result_id: uuid.UUID | None = Field(description="the reversal, once approved")

    @classmethod
    def of(cls, view: AdminRequestView) -> AdminRequestOut:
        return cls.model_validate(view, from_attributes=True)


class AdminRequestList(BaseModel):
    items: list[AdminRequestOut]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


class AuditLog(BaseModel):
    items: list[AuditEntryOut]


@router.post(
    "/transactions/{transaction_id}/reversal",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        401,
        403,
        404,
        409,
        413,
        422,
        d403="not an admin, or the transaction is of your own wallet",
        d409="not reversible, already reversed, or a request is already waiting",
    ),
)
async def request_reversal(
    transaction_id: uuid.UUID, body: ReversalRequest, principal: Admin, state: State
) -> AdminRequestOut:
    """Ask for a successful top-up or transfer to be undone with an opposite transaction.
    Nothing moves until a second admin approves the request."""
    view = await admin.request_reversal(
        state.okane, admin_id=principal.user_id, transaction_id=transaction_id, note=body.note
    )
    return AdminRequestOut.of(view)


@router.get("/requests", responses=problem_responses(401, 403, 422))
async def list_requests(
    _: Admin,
    state: State,
    status_: Annotated[
        Literal["pending", "approved", "rejected"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> AdminRequestList:
    """Admin requests, most recent first."""
    views = await admin.list_requests(state.okane, status=status_, limit=limit)
    return AdminRequestList(items=[AdminRequestOut.of(v) for v in views])


DECISION_PROBLEMS = problem_responses(
    401,
    403,
    404,
    409,
    413,
    422,
    d403="not an admin, your own request, or a transaction of your own wallet",
    d409="already decided, or (approval) no longer reversible",
    d422="invalid input, or (approval) the money is no longer there",
)


@router.post("/requests/{request_id}/approval", responses=DECISION_PROBLEMS)
async def approve(request_id: uuid.UUID, principal: Admin, state: State) -> AdminRequestOut:
    """A second admin approves: the reversal happens now, once."""
    view = await admin.decide(
        state.okane, admin_id=principal.user_id, request_id=request_id, approve=True
    )
    return AdminRequestOut.of(view)


@router.post("/requests/{request_id}/rejection", responses=DECISION_PROBLEMS)
async def reject(request_id: uuid.UUID, principal: Admin, state: State) -> AdminRequestOut:
    """A second admin rejects the request: nothing moves."""
    view = await admin.decide(
        state.okane, admin_id=principal.user_id, request_id=request_id, approve=False
    )
    return AdminRequestOut.of(view)


@router.get("/audit", responses=problem_responses(401, 403, 422))
async def audit_log(
    _: Admin, state: State, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> AuditLog:
    """Every admin act, most recent first (append-only)."""
    entries = await admin.audit_entries(state.okane, limit=limit)
    return AuditLog(items=[AuditEntryOut.model_validate(e, from_attributes=True) for e in entries])


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
