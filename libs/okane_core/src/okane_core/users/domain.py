"""Pure rules for user identifiers."""

from __future__ import annotations

import re
import uuid

from okane_core.errors import InvalidRequest
from okane_core.text import invisible_characters

_PHONE_DIGITS = re.compile(r"^\+?[0-9]{7,15}$")
# Written without \s so that Python and JSON Schema (ECMA) regex engines read it the same way:
# no controls, no spaces, one @, a dotted domain.
EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]{1,64}@[^@.\x00-\x20\x7f]+(\.[^@.\x00-\x20\x7f]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)


MAX_NAME_LENGTH = 100


def clean_name(raw: str) -> str:
    """A display name with its whitespace collapsed, 1 to MAX_NAME_LENGTH characters, without
    invisible characters (controls, bidi overrides, zero-width characters)."""
    hidden = invisible_characters(raw)
    if hidden:
        raise InvalidRequest(
            f"name must not contain control or formatting characters (found {', '.join(hidden)})",
            field="name",
        )
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"name must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    return name


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """E.164 form. A bare 10-digit number is an Indian mobile number (+91)."""
    compact = re.sub(r"[\s\-()]", "", raw)
    if not _PHONE_DIGITS.match(compact):
        raise InvalidRequest(
            "phone must be 7 to 15 digits, optionally starting with +", field=field
        )
    if compact.startswith("+"):
        if compact[1] == "0":
            raise InvalidRequest("phone country code cannot start with 0", field=field)
        return compact
    if len(compact) == 10 and compact[0] in "6789":
        return "+91" + compact
    if len(compact) == 12 and compact.startswith("91"):
        return "+" + compact
    raise InvalidRequest("phone must be in international form, e.g. +919876543210", field=field)


def normalize_email(raw: str, *, field: str = "email") -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequest("email is not a valid address", field=field)
    return email


def parse_user_ref(raw: str) -> tuple[str, str | uuid.UUID]:
    """Classify a recipient given as a user id, an email address or a phone number."""
    value = raw.strip()
    if len(value) >= 32:  # anything shorter has too few hex digits for a UUID
        try:
            return "id", uuid.UUID(value)
        except ValueError:
            pass
    if "@" in value:
        return "email", normalize_email(value, field="to")
    return "phone", normalize_phone(value, field="to")
