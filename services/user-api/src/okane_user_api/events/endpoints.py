"""GET /v1/events: the signed-in user's balance and new transactions, live, as Server-Sent
Events. Reconnecting with ``Last-Event-ID`` resumes after the last event received; a client
that was away too long (or is new) starts with a snapshot of the current balance."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from okane_core.cache.events import Event
from okane_core.errors import RateLimited
from okane_user_api.auth.tokens import Principal
from okane_user_api.deps import CurrentUser, State, revocations_of
from okane_user_api.state import AppState
from okane_web.problems import problem_responses

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["events"])

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 5.0  # a safety net under the pub/sub wake-ups (and the fallback without Redis)
# How often an idle stream checks that its session still holds: a logout or revocation (seen
# by the process's trust lease within L/4) ends the stream within about this long.
SESSION_CHECK_SECONDS = 1.0
STREAM_RETRY_SECONDS = 5


def _frame(event_id: str | None, data: dict[str, Any]) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {data.get('type', 'message')}\ndata: {json.dumps(data)}\n\n".encode()


async def _snapshot(state: AppState, principal: CurrentUser) -> dict[str, Any]:
    wallet = await state.okane.cache.reads.wallet(principal.user_id)
    return {
        "type": "wallet",
        "version": wallet.version,
        "currency": wallet.currency,
        "available": wallet.available,
        "locked": wallet.locked,
        "transactions": [],
        "snapshot": True,
    }


async def _signed_in(request: Request, principal: Principal) -> bool:
    """Whether the stream's session still holds (checked from the trust lease: no query)."""
    if time.time() >= principal.expires_at:
        return False
    revocations = revocations_of(request)
    return not await revocations.is_revoked(principal.user_id, principal.session_id)


async def _wait(wake: asyncio.Event, request: Request, principal: Principal) -> bool:
    """Wait for a wake-up (True) or POLL_SECONDS (False), checking the session meanwhile;
    returns early when it ended (the caller checks again)."""
    for _ in range(int(POLL_SECONDS / SESSION_CHECK_SECONDS)):
        try:
            await asyncio.wait_for(wake.wait(), timeout=SESSION_CHECK_SECONDS)
        except TimeoutError:
            if not await _signed_in(request, principal):
                return True
        else:
            return True
    return False


async def _stream(
    request: Request, state: AppState, principal: CurrentUser, last_event_id: str | None
) -> AsyncIterator[bytes]:
    hub = state.hub
    async with hub.listen(principal.user_id) as wake:  # counted before the first byte
        yield b"retry: 2000\n\n"
        cursor = last_event_id
        try:
            if cursor is None or not await hub.has(principal.user_id, cursor):
                cursor = await hub.last_id(principal.user_id)
                yield _frame(cursor, await _snapshot(state, principal))
        except RedisError:
            cursor = None
            yield _frame(None, await _snapshot(state, principal))
        version = -1
        first = True
        while not await request.is_disconnected():
            # On (re)connection, send what was missed before waiting.
            if not first and not await _wait(wake, request, principal):
                yield b": keep-alive\n\n"
            if not await _signed_in(request, principal):
                return  # logged out, revoked or expired: the stream ends with the session
            first = False
            wake.clear()
            try:
                if cursor is None:
                    cursor = await hub.last_id(principal.user_id)
                events: list[Event] = await hub.read_after(principal.user_id, cursor)
            except RedisError:
                # Without Redis, fall back to watching the wallet's version.
                snapshot = await _snapshot(state, principal)
                if snapshot["version"] != version:
                    version = snapshot["version"]
                    yield _frame(None, snapshot)
                cursor = None
                continue
            for event in events:
                cursor = event.id
                version = int(event.data.get("version", version))
                yield _frame(event.id, event.data)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "a stream of wallet events"},
        **problem_responses(401, 422, 429, d429="too many open streams"),
    },
)
async def events(
    request: Request,
    principal: CurrentUser,
    state: State,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Live balance and transactions of the signed-in user (Server-Sent Events)."""
    return event_stream(request, state, principal, last_event_id)


def event_stream(
    request: Request, state: AppState, principal: Principal, last_event_id: str | None
) -> StreamingResponse:
    """The stream of ``principal``'s wallet events (also served to the web app's pages), at
    most ``streams_per_user`` of them at once per user in this process."""
    if state.hub.listening(principal.user_id) >= state.settings.streams_per_user:
        raise RateLimited(
            "too many open event streams; close one (another tab or device) first",
            retry_after=STREAM_RETRY_SECONDS,
        )
    return StreamingResponse(
        _stream(request, state, principal, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
