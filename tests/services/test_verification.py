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


async def test_only_a_verified_phone_or_email_finds_a_payee(
    proving_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # An account opened while verification was off (or before it existed) has a phone and an
    # email nobody proved: they must find nobody until they are proven.
    earlier = start_stack(
        proving_stack.database_url,
        proving_stack.redis_url,
        tmp_path_factory.mktemp("unverified-logs"),
        jwt_secret=proving_stack.jwt_secret,  # the same deployment: its tokens work here
        webhook_secret=proving_stack.webhook_secret,
        OKANE_VERIFY_CONTACTS="off",
    )
    try:
        async with earlier.api() as old_api:
            tag = uuid.uuid4().hex[:8]
            payee = await old_api.signup("Payee", email=f"payee-{tag}@example.com")
    finally:
        stop_stack(earlier)
    async with proving_stack.api() as api:
        payer = await api.signup("Payer")  # opened with its phone's code: proven
        assert (await api.http.get("/v1/me", headers=payer.auth)).json()["phone_verified"]
        await api.fund(payer, 1_000)
        me = (await api.http.get("/v1/me", headers=payee.auth)).json()
        assert (me["phone_verified"], me["email_verified"]) == (False, False)

        unproven = await api.transfer(payer, payee.phone, 100)
        nobody = await api.transfer(payer, next_phone(), 100)
        assert unproven.status_code == nobody.status_code == 404
        assert without_instance(unproven) == without_instance(nobody)
        by_email = await api.transfer(payer, payee.email or "", 100)
        assert by_email.status_code == 404, by_email.text
        assert await api.wallet(payer) == (1_000, 0)

        sent = await api.http.post(
            "/v1/me/verification", json={"channel": "phone"}, headers=payee.auth
        )
        assert sent.status_code == 202, sent.text
        assert sent.json()["sent_to"].endswith(payee.phone[-4:]) and "*" in sent.json()["sent_to"]
        await api.verify_phone(payee)
        paid = await api.transfer(payer, payee.phone, 100)
        assert paid.status_code == 201 and paid.json()["status"] == "success", paid.text
        still = await api.transfer(payer, payee.email or "", 100)  # the email is not proven yet
        assert still.status_code == 404

        sent = await api.http.post(
            "/v1/me/verification", json={"channel": "email"}, headers=payee.auth
        )
        assert sent.status_code == 202, sent.text
        token = await api.code_for(payee.email or "")
        proven = await api.http.post("/v1/email-verification", json={"token": token})
        assert proven.status_code == 200 and proven.json()["email_verified"] is True
        again = await api.http.post("/v1/email-verification", json={"token": token})
        assert again.status_code == 403 and again.json()["code"] == "invalid_code"
        by_email = await api.transfer(payer, payee.email or "", 100)
        assert by_email.status_code == 201, by_email.text
        assert await api.wallet(payee) == (200, 0)
        done = await api.http.post(
            "/v1/me/verification", json={"channel": "phone"}, headers=payee.auth
        )
        assert done.status_code == 409 and done.json()["code"] == "already_verified"


async def test_a_sign_up_code_is_bounded_in_tries_and_works_once(proving_stack: Stack) -> None:
    async with proving_stack.api() as api:
        phone = next_phone()
        body = {"name": "Guesser", "phone": phone, "password": "a long password"}
        started = await api.http.post("/v1/auth/signup", json=body)
        assert started.status_code == 202, started.text
        code = await api.code_for(phone, "signup_code")
        wrong = f"{(int(code) + 1) % 10**6:06d}"

        async def confirm(value: str) -> Any:
            return await api.http.post(
                "/v1/auth/signup/confirm", json={"phone": phone, "code": value}
            )

        answers = [await confirm(wrong) for _ in range(ATTEMPTS)]
        assert all(a.status_code == 403 and a.json()["field"] == "code" for a in answers)
        dead = await confirm(code)  # the right code, after the tries ran out
        assert dead.status_code == 403
        login = {"login": phone, "password": body["password"]}
        assert (await api.http.post("/v1/auth/login", json=login)).status_code == 401  # no account

        assert (await api.http.post("/v1/auth/signup", json=body)).status_code == 202
        fresh = await api.code_for(phone, "signup_code")
        opened = await confirm(fresh)
        assert opened.status_code == 201, opened.text
        assert (await confirm(fresh)).status_code == 403  # used
        assert (await api.http.post("/v1/auth/login", json=login)).status_code == 200


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


async def test_a_taken_phone_gets_the_same_answer_and_its_owner_is_told(
    proving_stack: Stack,
) -> None:
    """Sign-up is no oracle: with someone's phone it answers exactly as with a free one, no
    code goes anywhere the caller controls, and the phone's owner is told of the attempt."""
    async with proving_stack.api() as api:
        owner = await api.signup("Owner")
        free = next_phone()
        answers = [
            await api.http.post(
                "/v1/auth/signup",
                json={"name": "Copycat", "phone": phone, "password": "another password"},
            )
            for phone in (owner.phone, free)
        ]
        assert [a.status_code for a in answers] == [202, 202]
        taken, fresh = (a.json() for a in answers)
        assert taken["detail"] == fresh["detail"] and taken["expires_in"] == fresh["expires_in"]
        assert taken["sent_to"][-4:] == owner.phone[-4:] and fresh["sent_to"][-4:] == free[-4:]
        kinds = [m["kind"] for m in await api.mailbox(owner.phone)]
        assert kinds.count("signup_attempt") == 1
        assert kinds.count("signup_code") == 1  # only the owner's own sign-up, earlier
        stolen = await api.http.post(
            "/v1/auth/signup/confirm", json={"phone": owner.phone, "code": "123456"}
        )
        assert stolen.status_code == 403


async def test_sign_ups_are_throttled_per_address(proving_stack: Stack) -> None:
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.8")
    async with httpx.AsyncClient(base_url=proving_stack.api_url, transport=transport) as http:
        codes = []
        for _ in range(SIGNUPS + 1):
            fresh = {"name": "Bulk", "phone": next_phone(), "password": "bulk password"}
            codes.append((await http.post("/v1/auth/signup", json=fresh)).status_code)
        assert codes == [202] * SIGNUPS + [429]
