"""Form input checked by the API's own request models, so a page accepts exactly what the
API accepts; failures become messages next to the offending field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from okane_core.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)

FRIENDLY = {
    "string_pattern_mismatch": "is not in the expected format",
    "string_too_short": "is too short",
    "string_too_long": "is too long",
    "missing": "is required",
}


def validate(model: type[M], **values: Any) -> M:
    """``model(**values)``, or an ``InvalidRequest`` naming the first bad field."""
    try:
        return model(**values)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "form"
        reason = FRIENDLY.get(first.get("type", ""), str(first.get("msg", "is not valid")))
        if first.get("type") == "string_too_short" and field == "password":
            reason = "must have at least 8 characters"
        raise InvalidRequest(
            f"{field.replace('_', ' ').capitalize()} {reason}.", field=field
        ) from None
