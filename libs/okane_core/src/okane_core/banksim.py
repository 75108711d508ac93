"""The bank simulator: signs and sends real Standard Webhooks callbacks to bank-webhook.

Used by ``okane bank`` (a person completing a top-up by hand), by the tests and by load runs.
A delivery keeps its ``webhook-id`` across retries, as a real sender does, so retries are
deduplicated by the receiver.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from okane_core.settings import Settings
from okane_core.webhooks import signed_headers

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    status: int
    body: dict[str, Any]
    attempts: int


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


class BankSimulator:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        client: httpx.AsyncClient | None = None,
        attempts: int = 5,
        backoff: float = 0.2,
    ) -> None:
        self.url = url
        self.secret = secret
        self._client = client
        self.attempts = attempts
        self.backoff = backoff

    async def deliver(
        self, event_type: str, reference: str, amount: int, *, event_id: str | None = None
    ) -> Delivery:
        """Send one event, retrying transport errors and retryable statuses."""
        msg_id = event_id or new_event_id()
        body = json.dumps(
            {"type": event_type, "data": {"reference": reference, "amount": amount}},
            separators=(",", ":"),
        ).encode()
        client = self._client or httpx.AsyncClient(timeout=10)
        try:
            for attempt in range(1, self.attempts + 1):
                headers = {
                    "content-type": "application/json",
                    **signed_headers(self.secret, msg_id, body),
                }
                try:
                    response = await client.post(self.url, content=body, headers=headers)
                except httpx.TransportError:
                    if attempt == self.attempts:
                        raise
                else:
                    if response.status_code not in RETRY_STATUSES or attempt == self.attempts:
                        return Delivery(msg_id, response.status_code, response.json(), attempt)
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        finally:
            if self._client is None:
                await client.aclose()
        raise AssertionError("unreachable")

    async def approve(self, kind: str, reference: str, amount: int) -> Delivery:
        return await self.deliver(f"{kind}.succeeded", reference, amount)

    async def decline(self, kind: str, reference: str, amount: int) -> Delivery:
        return await self.deliver(f"{kind}.failed", reference, amount)


STATUS_ANSWERS = frozenset({"succeeded", "failed", "pending", "not_found"})


def status_url(settings: Settings) -> str | None:
    """Where the bank answers status inquiries (``{reference}`` in it): configured, or the
    simulator's own when it is on; None when neither (unknown payments then wait for the
    bank's late callback)."""
    if settings.bank_status_url:
        return settings.bank_status_url
    if settings.bank_simulator:
        origin = httpx.URL(settings.bank_webhook_url).copy_with(path="/", query=None)
        return str(origin).rstrip("/") + "/simulator/payments/{reference}"
    return None


class BankStatus:
    """The bank's status inquiry: what became of a payment whose callback never came."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._owns_client = client is None

    async def ask(self, kind: str, reference: str) -> str:
        """``succeeded``, ``failed``, ``pending`` or ``not_found``; raises when the bank does
        not answer one of those."""
        response = await self._client.get(self.url.format(reference=quote(reference, safe="")))
        if response.status_code not in {200, 404}:
            raise httpx.HTTPStatusError(
                f"status inquiry answered {response.status_code}",
                request=response.request,
                response=response,
            )
        answer = str(response.json().get("status"))
        if answer not in STATUS_ANSWERS:
            raise ValueError(f"the bank answered {answer!r} about {kind} {reference}")
        return answer

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
