"""The route class of the money endpoints (top-ups, transfers, withdrawals).

FastAPI documents these routes from their endpoints' signatures like any other, but each request
is resolved by a handler made for exactly the parameters they take: a JSON body model, the
``Idempotency-Key`` header, the bearer token's principal (its session checked here, or by the
use case in its own round trip) and the app state. FastAPI's generic
dependency solver spent about a fifth of user-api's CPU per transfer on them (``make profile``).
The answers are the ones the generic path gives, in the same order: a body that is not JSON is
a 422 before anything else, a missing or bad token a 401, then every invalid field at once as
one 422 (validated by the route's own FastAPI fields, so with FastAPI's messages).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi._compat import ModelField, get_missing_field_error
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from okane_user_api.deps import (
    bearer_principal,
    current_principal,
    live,
    token_principal,
)
from okane_user_api.state import get_state

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (parameters allowed), as FastAPI has it."""
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _validated(field: ModelField, value: Any, loc: tuple[str, ...], errors: list[Any]) -> Any:
    if value is None:
        errors.append(get_missing_field_error(loc))
        return None
    checked, found = field.validate(value, {}, loc=loc)
    errors.extend(found)
    return checked


class MoneyRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        dependant = self.dependant
        calls = {d.call: d.name for d in dependant.dependencies}
        if (
            self.body_field is None
            or len(dependant.body_params) != 1
            or len(dependant.header_params) != 1
            or dependant.query_params
            or dependant.path_params
            or dependant.cookie_params
            or len(calls) != 2
            or get_state not in calls
            or not (token_principal in calls or current_principal in calls)
        ):
            raise TypeError(
                f"{self.path}: a money route takes a JSON body, the Idempotency-Key header, "
                "the token's principal and the app state, and nothing else"
            )
        endpoint = self.endpoint
        body_field = self.body_field
        body_name = dependant.body_params[0].name
        header = dependant.header_params[0]
        checks_session = current_principal in calls  # here, not in the use case
        names = (
            body_name,
            header.name,
            calls[current_principal if checks_session else token_principal],
            calls[get_state],
        )

        async def handler(request: Request) -> Response:
            raw = await request.body()
            payload: Any = None
            if raw:
                if not _is_json(request.headers.get("content-type")):
                    payload = raw  # refused by the body's model, as FastAPI does
                else:
                    try:
                        payload = json.loads(raw)
                    except json.JSONDecodeError as error:
                        raise RequestValidationError(
                            [
                                {
                                    "type": "json_invalid",
                                    "loc": ("body", error.pos),
                                    "msg": "JSON decode error",
                                    "input": {},
                                    "ctx": {"error": error.msg},
                                }
                            ],
                            body=error.doc,
                        ) from error
                    except ValueError as error:  # not UTF-8, UTF-16 or UTF-32 text
                        raise HTTPException(400, "There was an error parsing the body") from error
            state = await get_state(request)
            principal = bearer_principal(request.headers.get("authorization"), state)
            if checks_session:
                principal = await live(request, principal)
            errors: list[Any] = []
            alias = header.alias
            key = _validated(header, request.headers.get(alias), ("header", alias), errors)
            body = _validated(body_field, payload, ("body",), errors)
            if errors:
                raise RequestValidationError(errors, body=payload)
            response: Response = await endpoint(
                **{str(n): v for n, v in zip(names, (body, key, principal, state), strict=True)}
            )
            return response

        return handler
