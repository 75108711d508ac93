"""RFC 9457 problem details, the only error shape OKANE's HTTP APIs return.

Every body has ``type``, ``title``, ``status``, ``detail`` and a stable machine ``code``; a
validation error adds ``field`` (the first offending field) and ``errors`` (all of them). The
mapping from OKANE error codes to HTTP statuses lives here, in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from okane_core import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://okane.dev/problems/"

# Most specific class first: the first match wins.
STATUS_BY_ERROR: list[tuple[type[errors.OkaneError], int]] = [
    (errors.IdempotencyConflict, 409),
    (errors.DuplicateUser, 409),
    (errors.AlreadySettled, 409),
    (errors.SettlementExpired, 409),
    (errors.NotReversible, 409),
    (errors.AmountMismatch, 422),
    (errors.DailyLimitExceeded, 422),
    (errors.InsufficientFunds, 422),
    (errors.AuthenticationFailed, 401),
    (errors.WebhookRejected, 401),
    (errors.PermissionDenied, 403),
    (errors.RateLimited, 429),
    (errors.NotFound, 404),
    (errors.InvalidRequest, 422),
    (errors.Conflict, 409),
    (errors.Unavailable, 503),
]


def status_for(error: errors.OkaneError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(location: Iterable[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def _validation_problem(error: RequestValidationError) -> JSONResponse:
    details = [
        {"field": _field_path(item.get("loc", ())), "reason": str(item.get("msg", "invalid"))}
        for item in error.errors()
    ]
    first = details[0] if details else {"field": "", "reason": "invalid request"}
    return problem(
        422,
        "validation_error",
        f"{first['field'] or 'request'}: {first['reason']}",
        field=first["field"] or None,
        errors=details,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error, expected or not, as problem+json."""

    @app.exception_handler(errors.OkaneError)
    async def okane_error(_: Request, error: errors.OkaneError) -> JSONResponse:
        headers = None
        if isinstance(error, errors.RateLimited):
            headers = {"Retry-After": str(error.retry_after)}
        elif isinstance(error, errors.AuthenticationFailed):
            headers = {"WWW-Authenticate": 'Bearer realm="okane"'}
        return problem(
            status_for(error), error.code, error.message, field=error.field, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_problem(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        headers = dict(error.headers) if error.headers else None
        return problem(error.status_code, code, str(error.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
