"""Sending verification codes, throttled per user: shared by the API and the web app."""

from __future__ import annotations

import uuid

from okane_core.app import verification
from okane_core.app.verification import Sent
from okane_user_api.state import AppState


async def send_code(state: AppState, user_id: uuid.UUID, channel: str) -> Sent:
    settings = state.settings
    await state.limiter.enforce(
        "codes",
        str(user_id),
        settings.codes_per_hour,
        3600,
        message="Too many codes asked for; wait and try again.",
    )
    return await verification.send_verification(state.okane, user_id, channel)
