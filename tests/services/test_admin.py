"""Admin power is granted and checked, never claimed: the role comes from ``okane admin grant``
(not from signing up with a listed email), is read from PostgreSQL on every admin request, and
every reversal needs a second admin who is not a party to it. Each act is in the audit log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from okane_core.localstack import Endpoints
from tests.services.client import Api, User
from tests.services.conftest import Stack, start_stack, stop_stack

LISTED = "boss@okane.example"


@pytest.fixture(scope="module")
def admin_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # The setting that once made whoever signed up with this address an admin.
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("admin-logs"),
        OKANE_ADMIN_EMAILS=LISTED,
        OKANE_DEV_MAILBOX="true",
    )
    yield running
    stop_stack(running)


async def okane_admin(stack: Stack, *args: str) -> tuple[int, str]:
    """The real command line, against the stack's database."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "okane_core.cli",
        "admin",
        *args,
        env={
            **os.environ,
            "OKANE_DATABASE_URL": stack.database_url,
            "OKANE_REDIS_URL": stack.redis_url,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, (out or err).decode()


async def granted(api: Api, stack: Stack, name: str) -> User:
    user = await api.signup(name)
    await api.verify_phone(user)  # the role goes only to a proven account
    code, out = await okane_admin(stack, "grant", user.phone)
    assert code == 0, out
    assert json.loads(out.splitlines()[-1])["admin"] is True
    return user


async def paid(api: Api, payer: User, payee: User, amount: int) -> dict[str, Any]:
    response = await api.transfer(payer, payee.phone, amount)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "success"
    return body


async def request_reversal(api: Api, admin: User, transaction_id: str) -> Any:
    return await api.http.post(
        f"/v1/admin/transactions/{transaction_id}/reversal",
        json={"note": "customer complaint"},
        headers=admin.auth,
    )


async def decide(api: Api, admin: User, request_id: str, decision: str = "approval") -> Any:
    return await api.http.post(f"/v1/admin/requests/{request_id}/{decision}", headers=admin.auth)


async def test_signing_up_with_a_listed_email_gives_no_admin_role(admin_stack: Stack) -> None:
    async with admin_stack.api() as api:
        claimant = await api.signup("Claimant", email=LISTED)
        for verb, path in [("GET", "/v1/admin/requests"), ("POST", "/v1/admin/cache/warm")]:
            kwargs: dict[str, Any] = {"json": {}} if verb == "POST" else {}
            answer = await api.http.request(verb, path, headers=claimant.auth, **kwargs)
            assert answer.status_code == 403, answer.text


async def test_a_reversal_needs_a_second_admin_and_happens_once(admin_stack: Stack) -> None:
    async with admin_stack.api() as api:
        alice, bob, chris = [await granted(api, admin_stack, n) for n in ("Alice", "Bob", "Chris")]
        carol, dave = await api.signup("Carol"), await api.signup("Dave")
        await api.fund(carol, 1_000)
        transfer = await paid(api, carol, dave, 700)

        asked = await request_reversal(api, alice, transfer["id"])
        assert asked.status_code == 202, asked.text
        request = asked.json()
        assert (request["status"], request["result_id"]) == ("pending", None)
        assert await api.wallet(carol) == (300, 0)  # nothing moves on a request
        again = await request_reversal(api, bob, transfer["id"])
        assert again.status_code == 409, again.text

        own = await decide(api, alice, request["id"])
        assert own.status_code == 403 and own.json()["code"] == "second_admin_required"
        assert await api.wallet(dave) == (700, 0)

        # Two admins approve at the same moment: one reversal, one "already decided".
        answers = await asyncio.gather(
            decide(api, bob, request["id"]), decide(api, chris, request["id"])
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        approved = next(a.json() for a in answers if a.status_code == 200)
        assert approved["status"] == "approved" and approved["result_id"] is not None
        assert await api.wallet(carol) == (1_000, 0)
        assert await api.wallet(dave) == (0, 0)
        reversal = await api.http.get(
            f"/v1/transactions/{approved['result_id']}", headers=carol.auth
        )
        assert reversal.json()["reverses"] == transfer["id"]

        once_more = await request_reversal(api, alice, transfer["id"])
        assert once_more.status_code == 409 and once_more.json()["code"] == "not_reversible"

        audit = await api.http.get("/v1/admin/audit?limit=500", headers=bob.auth)
        assert audit.status_code == 200, audit.text
        acts = [
            (e["actor"], e["action"])
            for e in audit.json()["items"]
            if e["subject"] == f"transaction:{transfer['id']}"
        ]
        deciding = approved["decided_by"]
        assert acts == [
            (f"user:{deciding}", "reversal.approved"),
            (f"user:{alice.id}", "reversal.requested"),
        ]
        grants = {e["subject"] for e in audit.json()["items"] if e["action"] == "admin.granted"}
        assert {f"user:{u.id}" for u in (alice, bob, chris)} <= grants


async def test_no_admin_acts_on_their_own_wallet_or_undoes_a_payout(admin_stack: Stack) -> None:
    async with admin_stack.api() as api:
        alice, bob = (
            await granted(api, admin_stack, "Alice"),
            await granted(api, admin_stack, "Bob"),
        )
        carol = await api.signup("Carol")
        await api.fund(alice, 5_000)
        await api.fund(carol, 5_000)

        # Alice withdraws to her bank; the bank pays out.
        started = await api.post(alice, "/v1/withdrawals", {"amount": 3_000})
        assert started.status_code == 201, started.text
        payout = started.json()
        delivery = await api.bank.deliver("withdrawal.succeeded", payout["reference"], 3_000)
        assert delivery.status == 200, delivery.body
        mine = await request_reversal(api, alice, payout["id"])
        assert mine.status_code == 403 and mine.json()["code"] == "own_transaction"
        theirs = await request_reversal(api, bob, payout["id"])
        assert theirs.status_code == 409 and theirs.json()["code"] == "not_reversible"

        # A payment to Alice: she may neither ask for its reversal nor approve one.
        to_alice = await paid(api, carol, alice, 1_000)
        mine = await request_reversal(api, alice, to_alice["id"])
        assert mine.status_code == 403 and mine.json()["code"] == "own_transaction"
        asked = await request_reversal(api, bob, to_alice["id"])
        assert asked.status_code == 202, asked.text
        approval = await decide(api, alice, asked.json()["id"])
        assert approval.status_code == 403 and approval.json()["code"] == "own_transaction"
        assert await api.wallet(alice) == (5_000 - 3_000 + 1_000, 0)

        # A rejection moves nothing and ends the request.
        carol_topup = next(
            t
            for t in (await api.http.get("/v1/transactions", headers=carol.auth)).json()["data"]
            if t["kind"] == "topup"
        )
        asked = await request_reversal(api, alice, carol_topup["id"])
        rejected = await decide(api, bob, asked.json()["id"], "rejection")
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert (await decide(api, bob, asked.json()["id"])).status_code == 409
        assert await api.wallet(carol) == (4_000, 0)
        pending = await api.http.get("/v1/admin/requests?status=pending", headers=bob.auth)
        assert to_alice["id"] in {r["transaction_id"] for r in pending.json()["items"]}


async def test_a_revoked_admin_is_refused_with_the_token_they_hold(admin_stack: Stack) -> None:
    async with admin_stack.api() as api:
        bob = await granted(api, admin_stack, "Bob")
        assert (await api.http.get("/v1/admin/requests", headers=bob.auth)).status_code == 200
        code, out = await okane_admin(admin_stack, "revoke", bob.id)
        assert code == 0 and json.loads(out.splitlines()[-1])["admin"] is False, out
        answer = await api.http.get("/v1/admin/requests", headers=bob.auth)
        assert answer.status_code == 403, answer.text
        code, out = await okane_admin(admin_stack, "grant", "+919999999999")
        assert code == 2 and "user_not_found" in out
        unproven = await api.signup("Unproven")
        code, out = await okane_admin(admin_stack, "grant", unproven.phone)
        assert code == 2 and "no verified phone or email" in out, out


async def test_the_audit_log_refuses_changes(admin_stack: Stack) -> None:
    url = make_url(admin_stack.database_url).set(drivername="postgresql")
    async with await psycopg.AsyncConnection.connect(
        url.render_as_string(hide_password=False), autocommit=True
    ) as conn:
        await conn.execute(
            "INSERT INTO audit_log (actor, action, subject) VALUES ('test', 'probe', 'x')"
        )
        for statement in ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"]:
            with pytest.raises(psycopg.errors.RestrictViolation):
                await conn.execute(statement)
        with pytest.raises(psycopg.errors.RestrictViolation):
            await conn.execute("TRUNCATE audit_log")
