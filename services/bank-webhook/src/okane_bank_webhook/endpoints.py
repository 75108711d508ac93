"""POST /webhooks/bank: verify, then apply exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
)

from okane_core.app import settlements
from okane_core.app.context import Okane
from okane_core.errors import Category, InvalidRequest, WebhookRejected, category_of
from okane_core.ledger.bank import APPLIED
from okane_core.observability import metrics
from okane_core.settings import Settings
from okane_core.webhooks import verify
from okane_web.fields import HARD_MAX_PAISE, Paise
from okane_web.problems import PROBLEM_JSON, problem, status_of

router = APIRouter(tags=["webhooks"])


@dataclass
class WebhookState:
    settings: Settings
    okane: Okane
    secrets: list[str]


# What okane_core.ids.new_reference produces: anything else cannot name a transaction.
REFERENCE_PATTERN = r"^(tp|wd)_[0-9a-f]{24}$"


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: StrictStr = Field(pattern=REFERENCE_PATTERN, description="tp_... or wd_...")
    amount: Paise


class BankEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["topup.succeeded", "topup.failed", "withdrawal.succeeded", "withdrawal.failed"]
    data: EventData


# Documented by hand: FastAPI must not parse (or even read) the body before it is verified.
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "data"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [
                "topup.succeeded",
                "topup.failed",
                "withdrawal.succeeded",
                "withdrawal.failed",
            ],
        },
        "data": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reference", "amount"],
            "properties": {
                "reference": {"type": "string", "pattern": REFERENCE_PATTERN},
                "amount": {"type": "integer", "minimum": 1, "maximum": HARD_MAX_PAISE},
            },
        },
    },
}


def _parse(body: bytes) -> BankEvent:
    try:
        return BankEvent.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidRequest(
            f"{field or 'body'}: {first.get('msg', 'invalid')}", field=field
        ) from None


@router.post(
    "/webhooks/bank",
    summary="A bank callback (Standard Webhooks signature required)",
    description="The raw body is verified against `webhook-signature` before it is parsed.",
    openapi_extra={
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EVENT_SCHEMA}},
        },
    },
    responses={
        200: {"description": "applied (or already applied: same webhook-id, same answer)"},
        401: {"description": "missing, invalid or stale signature", "content": {PROBLEM_JSON: {}}},
        404: {"description": "unknown reference"},
        409: {"description": "already settled by another event, or expired"},
        422: {"description": "malformed body or wrong amount"},
    },
)
async def bank_callback(request: Request) -> JSONResponse:
    state: WebhookState = request.app.state.webhook
    body = await request.body()
    try:
        event_id = verify(state.secrets, request.headers, body)
    except WebhookRejected as refused:
        metrics.WEBHOOK_VERIFICATIONS.labels(_refusal(refused)).inc()
        raise
    metrics.WEBHOOK_VERIFICATIONS.labels("valid").inc()
    event = _parse(body)
    result = await settlements.apply_callback(
        state.okane,
        event_id=event_id,
        event_type=event.type,
        reference=event.data.reference,
        amount=event.data.amount,
    )
    metrics.WEBHOOK_EVENTS.labels(
        event.type, "replayed" if result.replayed else result.outcome
    ).inc()
    return _answer(result.outcome, result.response, replayed=result.replayed)


_REFUSALS = {
    "webhook-timestamp": "bad_timestamp",
    "webhook-signature": "bad_signature",
    "webhook-id": "bad_id",
}


def _refusal(error: WebhookRejected) -> str:
    """A bounded label for why a signature check failed."""
    return _REFUSALS.get(error.field or "", "missing_headers")


def declare_outcomes() -> None:
    """Export every signature-check outcome at 0 from the start, so that the first failures
    after a restart are an increase Prometheus sees (a series born at 4 has increased by 0)."""
    for outcome in ("valid", "missing_headers", *_REFUSALS.values()):
        metrics.WEBHOOK_VERIFICATIONS.labels(outcome)


def _answer(outcome: str, response: dict[str, Any], *, replayed: bool) -> JSONResponse:
    """The answer for an outcome; a redelivery recomputes the same one from the stored outcome.

    Any outcome but ``applied`` is the code of the error that refused the event, answered with
    the status of its category (a code no error has any more was a refusal all the same).
    """
    headers = {"Webhook-Replayed": "true"} if replayed else None
    if outcome == APPLIED:
        return JSONResponse(response, status_code=200, headers=headers)
    status = status_of(category_of(outcome) or Category.REFUSED)
    return problem(
        status,
        outcome,
        str(response.get("message", outcome)),
        headers=headers,
        **{k: v for k, v in response.items() if k not in {"message", "outcome"}},
    )
