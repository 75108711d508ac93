"""Identifiers: time-ordered UUIDv7 for rows, random references for the bank."""

from __future__ import annotations

import secrets
import uuid

from uuid_utils import compat


def new_id() -> uuid.UUID:
    """A UUIDv7: unguessable, and ordered by creation time, so ``ORDER BY id`` is history order
    and inserts append to the right edge of the primary-key index."""
    return compat.uuid7()


def new_reference(prefix: str) -> str:
    """What the bank quotes back to us when it confirms a top-up or a withdrawal."""
    return f"{prefix}_{secrets.token_hex(12)}"
