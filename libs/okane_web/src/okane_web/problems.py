"""RFC 9457 problem details, the only error shape OKANE's HTTP APIs return.

Every body has ``type``, ``title``, ``status``, ``detail`` and a stable machine ``code``; a
validation error adds ``field`` (the first offending field) and ``errors`` (all of them). The
mapping from OKANE error categories to HTTP statuses lives here, in one table, for the APIs, the
bank's answers and the web pages alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from okane_core import errors
from okane_core.db.errors import DATABASE_ERRORS, translate_db_error

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://okane.dev/problems/"

# The one place an OKANE error becomes an HTTP status.
STATUS_BY_CATEGORY: Mapping[errors.Category, HTTPStatus] = MappingProxyType(
    {
        errors.Category.UNCLASSIFIED: HTTPStatus.BAD_REQUEST,
        errors.Category.INVALID: HTTPStatus.UNPROCESSABLE_ENTITY,
        errors.Category.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
        errors.Category.FORBIDDEN: HTTPStatus.FORBIDDEN,
        errors.Category.NOT_FOUND: HTTPStatus.NOT_FOUND,
        errors.Category.CONFLICT: HTTPStatus.CONFLICT,
        errors.Category.REFUSED: HTTPStatus.UNPROCESSABLE_ENTITY,
        errors.Category.RATE_LIMITED: HTTPStatus.TOO_MANY_REQUESTS,
        errors.Category.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    }
)


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="what went wrong, for a person")
    code: str = Field(description="stable machine code, e.g. insufficient_funds")
    field: str | None = Field(default=None, description="the offending input, when there is one")
    errors: list[FieldError] | None = None


COMMON_DESCRIPTIONS = {
    400: "the request could not be read",
    401: "missing, invalid or revoked credentials",
    403: "not allowed for this user",
    404: "no such object (or not this user's)",
    405: "method not allowed",
    409: "conflicts with the current state",
    413: "the body is too large",
    422: "invalid input; `field` names it",
    429: "too many requests; see Retry-After",
    503: "temporarily unavailable; retry",
}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined (response schemas must stand alone)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


PROBLEM_SCHEMA = _inline_refs(Problem.model_json_schema())


def problem_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json answers (pass to a router or a route)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        documented[code] = {
            "description": descriptions.get(f"d{code}", COMMON_DESCRIPTIONS[code]),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
    return documented


def status_of(category: errors.Category) -> int:
    return int(STATUS_BY_CATEGORY[category])


def status_for(error: errors.OkaneError) -> int:
    return status_of(error.category)


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
        elif error.category is errors.Category.UNAVAILABLE:
            headers = {"Retry-After": "1"}  # transient: the same request may succeed soon
        elif isinstance(error, errors.AuthenticationFailed) and not isinstance(
            error, errors.WebhookRejected
        ):
            # API callers authenticate with a bearer token; the bank signs its callbacks instead.
            headers = {"WWW-Authenticate": 'Bearer realm="okane"'}
        return problem(
            status_for(error), error.code, error.message, field=error.field, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_problem(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        headers = dict(error.headers) if error.headers else None
        if error.status_code == 405:
            # Starlette lists the methods of the first route that matched the path only.
            headers = {"Allow": ", ".join(_allowed_methods(app, request))}
        if error.status_code == 400:
            # FastAPI's "error parsing the body": malformed JSON or bytes that are not UTF-8.
            return problem(422, "validation_error", "body: not valid JSON", field="body")
        return problem(error.status_code, code, str(error.detail), headers=headers)

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        translated = translate_db_error(error)
        if translated is None:
            return unexpected_problem(request, error)
        # A database failure met outside a unit of work (a read, a dependency, a session that
        # could not roll back on a dropped connection): transient.
        log.warning("%s %s: %s", request.method, request.url.path, translated.message)
        return await okane_error(request, translated)

    # Registered per class, not under Exception: Starlette answers handlers of Exception from
    # its outermost middleware and then re-raises, and the server closes the connection, so a
    # client could lose the 503 it was sent.
    for database_error_class in DATABASE_ERRORS:
        app.add_exception_handler(database_error_class, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        translated = translate_db_error(error)
        if translated is not None:
            return await database_error(request, error)
        return unexpected_problem(request, error)


def unexpected_problem(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "internal_error", "an unexpected error occurred; it has been logged")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)
