"""Proven contact points: with ``OKANE_VERIFY_CONTACTS=required`` (the default) only a verified
phone or email finds a payee, answered exactly as "no such user" otherwise; codes are bounded
in tries and time and work once; a changed email is unproven again and its old address is told;
the codes travel through the notification outbox (see test_notifications for its delivery)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from okane_core.localstack import Endpoints
from tests.services.client import next_phone
from tests.services.conftest import Stack, start_stack, stop_stack

ATTEMPTS = 3
SIGNUPS = 20  # per client address per hour


@pytest.fixture(scope="module")
def proving_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("verification-logs"),
        OKANE_VERIFY_CONTACTS="required",
        OKANE_DEV_MAILBOX="true",
        OKANE_CODE_ATTEMPTS=str(ATTEMPTS),
        OKANE_SIGNUPS_PER_ADDRESS=str(SIGNUPS),
    )
    yield running
    stop_stack(running)


def without_instance(answer: Any) -> dict[str, Any]:
    return {k: v for k, v in answer.json().items() if k != "instance"}


async def test_only_a_verified_phone_or_email_finds_a_payee(proving_stack: Stack) -> None:
    async with proving_stack.api() as api:
        payer = await api.signup("Payer")
        await api.verify_phone(payer)
        await api.fund(payer, 1_000)
        tag = uuid.uuid4().hex[:8]
        payee = await api.signup("Payee", email=f"payee-{tag}@example.com")
        me = (await api.http.get("/v1/me", headers=payee.auth)).json()
        assert (me["phone_verified"], me["email_verified"]) == (False, False)

        unproven = await api.transfer(payer, payee.phone, 100)
        nobody = await api.transfer(payer, next_phone(), 100)
        assert unproven.status_code == nobody.status_code == 404
        assert without_instance(unproven) == without_instance(nobody)
        by_email = await api.transfer(payer, payee.email or "", 100)
        assert by_email.status_code == 404, by_email.text
        assert await api.wallet(payer) == (1_000, 0)

        await api.verify_phone(payee)
        paid = await api.transfer(payer, payee.phone, 100)
        assert paid.status_code == 201 and paid.json()["status"] == "success", paid.text
        still = await api.transfer(payer, payee.email or "", 100)  # the email is not proven yet
        assert still.status_code == 404

        token = await api.code_for(payee.email or "")
        proven = await api.http.post("/v1/email-verification", json={"token": token})
        assert proven.status_code == 200 and proven.json()["email_verified"] is True
        again = await api.http.post("/v1/email-verification", json={"token": token})
        assert again.status_code == 403 and again.json()["code"] == "invalid_code"
        by_email = await api.transfer(payer, payee.email or "", 100)
        assert by_email.status_code == 201, by_email.text
        assert await api.wallet(payee) == (200, 0)


async def test_a_code_is_bounded_in_tries_and_works_once(proving_stack: Stack) -> None:
    async with proving_stack.api() as api:
        user = await api.signup("Guesser")
        code = await api.code_for(user.phone)
        wrong = f"{(int(code) + 1) % 10**6:06d}"

        async def confirm(value: str) -> Any:
            return await api.http.post(
                "/v1/me/verification/confirm",
                json={"channel": "phone", "code": value},
                headers=user.auth,
            )

        answers = [await confirm(wrong) for _ in range(ATTEMPTS)]
        assert all(a.status_code == 403 and a.json()["field"] == "code" for a in answers)
        dead = await confirm(code)  # the right code, after the tries ran out
        assert dead.status_code == 403
        assert (await api.http.get("/v1/me", headers=user.auth)).json()["phone_verified"] is False

        sent = await api.http.post(
            "/v1/me/verification", json={"channel": "phone"}, headers=user.auth
        )
        assert sent.status_code == 202, sent.text
        assert sent.json()["sent_to"].endswith(user.phone[-4:]) and "*" in sent.json()["sent_to"]
        fresh = await api.code_for(user.phone)
        assert (await confirm(fresh)).status_code == 200
        assert (await confirm(fresh)).status_code == 403  # used
        done = await api.http.post(
            "/v1/me/verification", json={"channel": "phone"}, headers=user.auth
        )
        assert done.status_code == 409 and done.json()["code"] == "already_verified"


async def test_a_changed_email_is_unproven_and_its_old_address_is_told(
    proving_stack: Stack,
) -> None:
    async with proving_stack.api() as api:
        tag = uuid.uuid4().hex[:8]
        old, new = f"old-{tag}@example.com", f"new-{tag}@example.com"
        user = await api.signup("Mover", email=old)
        token = await api.code_for(old)
        web = await api.http.get("/verify-email", params={"token": token})  # the link itself
        assert web.status_code == 200 and "Email verified" in web.text
        assert (await api.http.get("/v1/me", headers=user.auth)).json()["email_verified"] is True

        moved = await api.http.patch("/v1/me", json={"email": new}, headers=user.auth)
        assert moved.status_code == 200, moved.text
        assert (moved.json()["email"], moved.json()["email_verified"]) == (new, False)
        told = [m for m in await api.mailbox(old) if m["kind"] == "email_changed"]
        assert len(told) == 1 and new in told[0]["body"]
        await api.code_for(new)  # a link went to the new address
        # The old address's link no longer proves anything.
        stale = await api.http.get("/verify-email", params={"token": token})
        assert stale.status_code == 422


async def test_a_taken_phone_is_refused_its_owner_told_and_sign_ups_are_throttled(
    proving_stack: Stack,
) -> None:
    async with proving_stack.api() as api:
        owner = await api.signup("Owner")
        body = {"name": "Copycat", "phone": owner.phone, "password": "another password"}
        taken = await api.http.post("/v1/auth/signup", json=body)
        assert taken.status_code == 409 and taken.json()["field"] == "phone"
        told = [m for m in await api.mailbox(owner.phone) if m["kind"] == "signup_attempt"]
        assert len(told) == 1
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.8")
    async with httpx.AsyncClient(base_url=proving_stack.api_url, transport=transport) as http:
        codes = []
        for _ in range(SIGNUPS + 1):
            fresh = {"name": "Bulk", "phone": next_phone(), "password": "bulk password"}
            codes.append((await http.post("/v1/auth/signup", json=fresh)).status_code)
        assert codes == [201] * SIGNUPS + [429]
