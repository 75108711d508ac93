"""The notification outbox delivered to an SMS and email gateway by signed webhook, at least
once: a gateway that refuses a delivery gets it again. (A module of its own: its database has
no other stack whose dispatcher would deliver the same outbox.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from okane_core import webhooks
from okane_core.localstack import Endpoints
from tests.served import Served
from tests.services.conftest import start_stack, stop_stack


class Gateway:
    """An SMS and email gateway on loopback: checks each signature, fails the first call."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.calls = 0
        self.app = Starlette(routes=[Route("/send", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        self.calls += 1
        body = await request.body()
        webhooks.verify([self.secret], request.headers, body)
        if self.calls == 1:
            return Response(status_code=503)  # down for a moment: tried again
        self.received.append({**json.loads(body), "webhook_id": request.headers["webhook-id"]})
        return Response(status_code=204)


async def test_notifications_reach_a_signed_webhook_at_least_once(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="
    gateway = Gateway(secret)
    with Served(gateway.app) as served:
        stack = start_stack(
            module_database_url,
            endpoints.redis_url,
            tmp_path_factory.mktemp("gateway-logs"),
            OKANE_NOTIFICATION_SENDER="webhook",
            OKANE_NOTIFICATION_WEBHOOK_URL=served.url + "/send",
            OKANE_NOTIFICATION_WEBHOOK_SECRET=secret,
        )
        try:
            async with stack.api() as api:
                user = await api.signup("Texted")
                for _ in range(100):
                    if any(m["to"] == user.phone for m in gateway.received):
                        break
                    await asyncio.sleep(0.1)
                mine = [m for m in gateway.received if m["to"] == user.phone]
                assert len(mine) == 1, gateway.received
                assert mine[0]["channel"] == "phone" and mine[0]["kind"] == "verify_code"
                assert mine[0]["webhook_id"] == f"ntf_{mine[0]['id']}"  # gateways deduplicate on it
                assert mine[0]["body"].startswith("OKANE: ")
                assert gateway.calls >= 2  # the refused first try was sent again
                off = await api.http.get("/dev/mailbox/messages")
                assert off.status_code == 404  # no development mailbox here
        finally:
            stop_stack(stack)
