"""Who am I paying? The name behind an exact phone number or email, and nothing else: no
partial matches, no listing, no phone or email of anyone, and a per-user rate limit so that
the lookup cannot be used to walk the user base."""

from __future__ import annotations

import uuid

from okane_core.app import reads
from okane_core.errors import RateLimited, RecipientNotFound, SelfTransfer
from okane_core.users.domain import normalize_email, normalize_phone
from okane_user_api.state import AppState

LOOKUPS_PER_WINDOW = 30
WINDOW_SECONDS = 10 * 60


def normalize_recipient(raw: str) -> tuple[str, str]:
    """``("email" | "phone", normalized value)``; anything else is an ``InvalidRequest``."""
    value = raw.strip()
    if "@" in value:
        return "email", normalize_email(value, field="to")
    return "phone", normalize_phone(value, field="to")


async def recipient_name(state: AppState, payer: uuid.UUID, raw: str) -> str:
    by, value = normalize_recipient(raw)
    wait = await state.limiter.hit(
        "recipient-lookup", str(payer), LOOKUPS_PER_WINDOW, WINDOW_SECONDS
    )
    if wait is not None:
        raise RateLimited(
            "Too many recipient look-ups; wait a few minutes and try again.", retry_after=wait
        )
    user = await reads.find_user(state.okane.uow, by, value)
    if user is None:
        raise RecipientNotFound(f"No OKANE user has this {by}.", field="to")
    if user.id == payer:
        raise SelfTransfer("That is you: you cannot pay yourself.", field="to")
    return user.name
