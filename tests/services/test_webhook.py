"""bank-webhook under attack: forged and stale signatures, replays, wrong amounts, unknown
references. None of them moves money."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time

import pytest
from standardwebhooks import Webhook

from okane_bank_webhook.endpoints import _answer
from okane_core.webhooks import signed_headers
from tests.services.client import Api, User
from tests.services.conftest import Stack


async def pending_topup(api: Api, user: User, amount: int) -> str:
    response = await api.post(user, "/v1/topups", {"amount": amount})
    assert response.status_code == 201
    return str(response.json()["reference"])


def body_for(reference: str, amount: int, event: str = "topup.succeeded") -> bytes:
    return json.dumps({"type": event, "data": {"reference": reference, "amount": amount}}).encode()


async def post(api: Api, stack: Stack, body: bytes, headers: dict[str, str]):
    return await api.bank_http.post(
        stack.webhook_url + "/webhooks/bank",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


async def test_our_signatures_match_the_reference_implementation(stack: Stack) -> None:
    body = body_for("tp_x", 5)
    ours = signed_headers(stack.webhook_secret, "msg_1", body, timestamp=int(time.time()))
    Webhook(stack.webhook_secret).verify(body, ours)  # raises if they disagree


async def test_forged_stale_and_malformed_deliveries_change_nothing(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Bank Target")
        reference = await pending_topup(api, user, 7_000)
        body = body_for(reference, 7_000)
        wrong_key = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        good = signed_headers(stack.webhook_secret, "evt_real", body)
        attacks = {
            "no headers": {},
            "wrong key": signed_headers(wrong_key, "evt_a", body),
            "stale": signed_headers(stack.webhook_secret, "evt_b", body, int(time.time()) - 600),
            "future": signed_headers(stack.webhook_secret, "evt_c", body, int(time.time()) + 600),
            "body swapped": good,  # signature of another body
            "bad timestamp": {**good, "webhook-timestamp": "yesterday"},
            "bad signature text": {**good, "webhook-signature": "v1,@@@ v2,abc nonsense"},
            "unknown version only": {
                **good,
                "webhook-signature": good["webhook-signature"].replace("v1,", "v9,"),
            },
        }
        for name, headers in attacks.items():
            sent = body_for(reference, 70_000) if name == "body swapped" else body
            response = await post(api, stack, sent, headers)
            assert response.status_code == 401, (name, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "invalid_signature"
        assert await api.wallet(user) == (0, 0)
        # Several signatures (key rotation): one valid among them is enough.
        retired = "v1," + base64.b64encode(b"x" * 32).decode()
        rotated = {**good, "webhook-signature": f"{retired} {good['webhook-signature']}"}
        accepted = await post(api, stack, body, rotated)
        assert accepted.status_code == 200
        assert await api.wallet(user) == (7_000, 0)


async def test_replays_and_duplicates_have_one_effect_and_one_answer(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Replay Target")
        reference = await pending_topup(api, user, 3_000)
        body = body_for(reference, 3_000)
        headers = signed_headers(stack.webhook_secret, "evt_dup", body)
        answers = await asyncio.gather(*(post(api, stack, body, headers) for _ in range(8)))
        assert {a.status_code for a in answers} == {200}
        assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
        assert sum(a.headers.get("webhook-replayed") == "true" for a in answers) == 7
        later = await post(api, stack, body, signed_headers(stack.webhook_secret, "evt_dup", body))
        assert later.json() == answers[0].json()
        # A different event for the same top-up: already settled, still one credit.
        other = await api.bank.approve("topup", reference, 3_000)
        assert (other.status, other.body["code"]) == (409, "already_settled")
        assert await api.wallet(user) == (3_000, 0)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (
            {"type": "topup.succeeded", "data": {"reference": "tp_" + "0" * 24, "amount": 5}},
            404,
            "transaction_not_found",
        ),
        (
            {"type": "topup.exploded", "data": {"reference": "tp_x", "amount": 5}},
            422,
            "invalid_request",
        ),
        (
            {"type": "topup.succeeded", "data": {"reference": "tp_x", "amount": -5}},
            422,
            "invalid_request",
        ),
        (
            {"type": "topup.succeeded", "data": {"reference": "tp_x", "amount": "5"}},
            422,
            "invalid_request",
        ),
        ({"type": "topup.succeeded", "data": {"reference": "tp_x"}}, 422, "invalid_request"),
        (
            {"type": "topup.succeeded", "data": {"reference": "tp_x", "amount": 5}, "x": 1},
            422,
            "invalid_request",
        ),
    ],
)
async def test_unknown_references_and_malformed_bodies_are_answered_clearly(
    stack: Stack, payload: dict[str, object], status: int, code: str
) -> None:
    async with stack.api() as api:
        body = json.dumps(payload).encode()
        response = await post(
            api, stack, body, signed_headers(stack.webhook_secret, secrets.token_hex(8), body)
        )
        assert response.status_code == status, response.text
        assert response.json()["code"] == code


async def test_wrong_amount_and_crossed_kinds_change_nothing(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Amount Target")
        reference = await pending_topup(api, user, 1_000)
        wrong = await api.bank.approve("topup", reference, 100_000)
        assert (wrong.status, wrong.body["code"]) == (422, "amount_mismatch")
        crossed = await api.bank.approve("withdrawal", reference, 1_000)
        assert (crossed.status, crossed.body["code"]) == (404, "transaction_not_found")
        assert await api.wallet(user) == (0, 0)
        right = await api.bank.approve("topup", reference, 1_000)
        assert right.status == 200
        assert await api.wallet(user) == (1_000, 0)


async def test_invalid_json_and_huge_bodies(stack: Stack) -> None:
    async with stack.api() as api:
        for body in (b"{not json", b"\xff\xfe\x00", b"[]", b"null"):
            response = await post(
                api, stack, body, signed_headers(stack.webhook_secret, secrets.token_hex(8), body)
            )
            assert response.status_code == 422, body
        huge = b"{" + b" " * 200_000 + b"}"
        response = await post(
            api, stack, huge, signed_headers(stack.webhook_secret, "evt_big", huge)
        )
        assert response.status_code == 413


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("applied", 200),
        ("settlement_expired", 409),
        ("already_settled", 409),
        ("transaction_not_found", 404),
        ("amount_mismatch", 422),
        ("a_code_no_error_has", 422),
    ],
)
@pytest.mark.parametrize("replayed", [False, True])
def test_each_stored_outcome_answers_with_its_status(
    outcome: str, status: int, replayed: bool
) -> None:
    stored = {"outcome": outcome, "event_id": "evt_1", "reference": "tp_1", "message": "why"}
    answer = _answer(outcome, stored, replayed=replayed)
    assert answer.status_code == status
    assert answer.headers.get("Webhook-Replayed") == ("true" if replayed else None)
    body = json.loads(bytes(answer.body))
    if status == 200:
        assert body == stored
    else:
        assert answer.media_type == "application/problem+json"
        assert (body["code"], body["status"], body["detail"]) == (outcome, status, "why")
        assert body["type"] == f"https://okane.dev/problems/{outcome}"
        assert (body["event_id"], body["reference"]) == ("evt_1", "tp_1")
