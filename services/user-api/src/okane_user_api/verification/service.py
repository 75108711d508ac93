"""Sending verification codes, throttled per user: shared by the API and the web app."""

from __future__ import annotations

import uuid

from okane_core.app import verification
from okane_core.app.verification import Sent
from okane_core.errors import RateLimited
from okane_user_api.state import AppState


async def send_code(state: AppState, user_id: uuid.UUID, channel: str) -> Sent:
    settings = state.settings
    wait = await state.limiter.hit("codes", str(user_id), settings.codes_per_hour, 3600)
    if wait is not None:
        raise RateLimited("Too many codes asked for; wait and try again.", retry_after=wait)
    return await verification.send_verification(state.okane, user_id, channel)
