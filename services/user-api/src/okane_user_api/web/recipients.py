"""Who am I paying? The name behind an exact phone number or email, and nothing else: no
partial matches, no listing, no phone or email of anyone, and a per-user limit on payees
outside one's contacts so that the look-up cannot be used to walk the user base."""

from __future__ import annotations

import uuid

from okane_core.app import reads
from okane_core.errors import RecipientNotFound, SelfTransfer
from okane_core.users.domain import parse_user_ref
from okane_user_api.state import AppState


def normalize_recipient(raw: str) -> tuple[str, str | uuid.UUID]:
    """``("id" | "email" | "phone", normalized value)`` (a contact is paid again by id);
    anything else is an ``InvalidRequest``."""
    return parse_user_ref(raw)


async def recipient_name(state: AppState, payer: uuid.UUID, raw: str) -> str:
    """The name of the payee, counted in the payer's ``payee-lookup`` window (the one API
    transfers count in) unless the payee is already a contact; over the limit the answer is
    the same whether or not the payee exists."""
    by, value = normalize_recipient(raw)
    user = await reads.find_user(state.okane.uow, by, value)
    unproven = by in ("phone", "email") and user is not None and not user.verified(by)
    if unproven and state.settings.verify_contacts == "required":
        user = None  # an unproven address finds nobody, exactly as an unknown one
    limit = state.settings.payee_lookups_per_window
    if limit and (user is None or not await reads.is_contact(state.okane.uow, payer, user.id)):
        await state.limiter.enforce(
            "payee-lookup",
            str(payer),
            limit,
            state.settings.payee_lookup_window_seconds,
            message="Too many new payees; wait a few minutes and try again.",
        )
    if user is None:
        raise RecipientNotFound("No OKANE user has this phone, email or id.", field="to")
    if user.id == payer:
        raise SelfTransfer("That is you: you cannot pay yourself.", field="to")
    return user.name
