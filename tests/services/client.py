"""A small HTTP client for the tests: what a user's app and the bank would send."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from okane_core.banksim import BankSimulator, Delivery

_phones = itertools.count(7000000000 + (uuid.uuid4().int % 10**6) * 1000)


def next_phone() -> str:
    return f"+91{next(_phones)}"


@dataclass
class User:
    id: str
    name: str
    phone: str
    email: str | None
    password: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


# Idle connections are dropped before uvicorn's 5 s keep-alive ends, so the pool never reuses
# a connection the server is closing at that moment.
LIMITS = httpx.Limits(max_connections=200, keepalive_expiry=2.0)


class Api:
    # How many times a 503 is retried (with the same key); fault tests raise it, so that every
    # request ends with a definite answer once the fault has passed.
    retries = 4

    def __init__(self, api_url: str, webhook_url: str, webhook_secret: str) -> None:
        self.http = httpx.AsyncClient(base_url=api_url, timeout=30, limits=LIMITS)
        self.retried_503 = 0
        self.bank_http = httpx.AsyncClient(timeout=30, limits=LIMITS)
        self.bank = BankSimulator(
            webhook_url + "/webhooks/bank", webhook_secret, client=self.bank_http
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.bank_http.aclose()

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def signup(self, name: str = "Asha", *, email: str | None = None) -> User:
        phone = next_phone()
        password = "correct horse battery"
        body: dict[str, Any] = {"name": name, "phone": phone, "password": password}
        if email:
            body["email"] = email
        created = await self.http.post("/v1/auth/signup", json=body)
        if created.status_code == 202:  # contacts to verify: the phone's code opens it
            code = await self.code_for(phone, "signup_code")
            confirmed = await self.http.post(
                "/v1/auth/signup/confirm", json={"phone": phone, "code": code}
            )
            assert confirmed.status_code == 201, confirmed.text
            tokens = confirmed.json()
            me = await self.http.get(
                "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            user_id = me.json()["id"]
        else:
            assert created.status_code == 201, created.text
            user_id = created.json()["id"]
            login = await self.http.post(
                "/v1/auth/login", json={"login": phone, "password": password}
            )
            assert login.status_code == 200, login.text
            tokens = login.json()
        return User(
            user_id,
            name,
            phone,
            email,
            password,
            tokens["access_token"],
            tokens["refresh_token"],
        )

    async def mailbox(self, to: str) -> list[dict[str, Any]]:
        """What the development mailbox holds for ``to``, newest first."""
        response = await self.http.get("/dev/mailbox/messages", params={"to": to})
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def code_for(self, to: str, kind: str = "verify_code") -> str:
        """The secret of the newest code sent to ``to``: the SMS's six digits, or the token
        of the email's link. Delivery is asynchronous; the outbox row is there at once."""
        for message in await self.mailbox(to):
            if message["kind"] == kind:
                pattern = r"([0-9a-f]{32}\.[\w-]+)" if "@" in to else r"\b([0-9]{6})\b"
                found = re.search(pattern, message["body"])
                assert found is not None, message
                return found.group(1)
        raise AssertionError(f"no {kind} for {to}")

    async def verify_phone(self, user: User) -> None:
        code = await self.code_for(user.phone)
        confirmed = await self.http.post(
            "/v1/me/verification/confirm",
            json={"channel": "phone", "code": code},
            headers=user.auth,
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["phone_verified"] is True

    async def wallet(self, user: User) -> tuple[int, int]:
        response = await self.http.get("/v1/wallet", headers=user.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        return body["available"], body["locked"]

    async def post(
        self, user: User, path: str, body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        headers = {**user.auth, "Idempotency-Key": key or uuid.uuid4().hex}
        # What a well-behaved client does with a 503 (a row lock that did not come free within
        # lock_timeout on an overloaded machine): retry the same request with the same key.
        for attempt in range(self.retries):
            response = await self.http.post(path, json=body, headers=headers)
            if response.status_code != 503:
                break
            self.retried_503 += 1
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        return response

    async def topup(
        self, user: User, amount: int, *, approve: bool = True
    ) -> tuple[dict[str, Any], Delivery]:
        started = await self.post(user, "/v1/topups", {"amount": amount})
        assert started.status_code == 201, started.text
        topup = started.json()
        assert topup["status"] == "processing"
        event = "topup.succeeded" if approve else "topup.failed"
        delivery = await self.bank.deliver(event, topup["reference"], amount)
        return topup, delivery

    async def fund(self, user: User, amount: int) -> None:
        _, delivery = await self.topup(user, amount)
        assert delivery.status == 200, delivery.body

    async def transfer(
        self, user: User, to: str, amount: int, note: str | None = None, key: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"to": to, "amount": amount}
        if note is not None:
            body["note"] = note
        return await self.post(user, "/v1/transfers", body, key)
