"""Money-moving endpoints: bad input is refused clearly and changes nothing; idempotency keys
replay; limits hold."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.services.conftest import Stack


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "+919999999999", "amount": 0}, "amount"),
        ({"to": "+919999999999", "amount": -100}, "amount"),
        ({"to": "+919999999999", "amount": 10.5}, "amount"),
        ({"to": "+919999999999", "amount": "100"}, "amount"),
        ({"to": "+919999999999", "amount": True}, "amount"),
        ({"to": "+919999999999", "amount": 2**70}, "amount"),
        ({"to": "+919999999999"}, "amount"),
        ({"amount": 100}, "to"),
        ({"to": "+919999999999", "amount": 100, "currency": "USD"}, "currency"),
        ({"to": "+919999999999", "amount": 100, "note": "x" * 141}, "note"),
    ],
)
async def test_malformed_transfers_are_422_with_the_field(
    stack: Stack, body: dict[str, object], field: str
) -> None:
    async with stack.api() as api:
        user = await api.signup("Validator")
        response = await api.post(user, "/v1/transfers", body)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert (problem["code"], problem["field"]) == ("validation_error", field)
        assert problem["errors"][0]["reason"]


async def test_rule_violations_have_stable_codes_and_change_nothing(stack: Stack) -> None:
    async with stack.api() as api:
        payer = await api.signup("Payer")
        await api.fund(payer, 5_000)
        cases = [
            ({"to": payer.phone, "amount": 100}, 422, "self_transfer"),
            ({"to": "+919000000001", "amount": 100}, 404, "recipient_not_found"),
            ({"to": "nobody@example.com", "amount": 100}, 404, "recipient_not_found"),
            ({"to": str(uuid.uuid4()), "amount": 100}, 404, "recipient_not_found"),
            ({"to": "not a phone", "amount": 100}, 422, "validation_error"),
            ({"to": "+919000000001", "amount": 10**12}, 422, "amount_over_limit"),
        ]
        for body, status, code in cases:
            response = await api.post(payer, "/v1/transfers", body)
            assert (response.status_code, response.json()["code"]) == (status, code), body
        assert await api.wallet(payer) == (5_000, 0)
        history = (await api.http.get("/v1/transactions", headers=payer.auth)).json()["data"]
        assert len(history) == 1


async def test_idempotency_key_is_required_and_replays_the_first_answer(stack: Stack) -> None:
    async with stack.api() as api:
        payer = await api.signup("Idem")
        payee = await api.signup("Potent")
        await api.fund(payer, 1_000)
        missing = await api.http.post(
            "/v1/transfers", json={"to": payee.phone, "amount": 5}, headers=payer.auth
        )
        assert (missing.status_code, missing.json()["field"]) == (422, "Idempotency-Key")
        answers = await asyncio.gather(
            *(api.transfer(payer, payee.phone, 300, key="same-key") for _ in range(5))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 4
        assert await api.wallet(payer) == (700, 0)
        different = await api.transfer(payer, payee.phone, 301, key="same-key")
        assert (different.status_code, different.json()["code"]) == (409, "idempotency_conflict")
        assert await api.wallet(payer) == (700, 0)


async def test_body_size_and_broken_json(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Bulky")
        headers = {**user.auth, "Idempotency-Key": "k", "content-type": "application/json"}
        huge = await api.http.post(
            "/v1/transfers", content=b'{"to": "' + b"1" * 100_000 + b'"}', headers=headers
        )
        assert (huge.status_code, huge.json()["code"]) == (413, "body_too_large")
        broken = await api.http.post("/v1/transfers", content=b'{"to": ', headers=headers)
        assert broken.status_code == 422
        assert broken.json()["code"] == "validation_error"


async def test_money_routes_answer_bad_requests_in_fastapis_order(stack: Stack) -> None:
    """The money routes resolve their parameters themselves (``wallet/route.py``): the same
    answers as FastAPI's generic path, in its order: JSON first, then the token, then every
    invalid field at once."""
    async with stack.api() as api:
        user = await api.signup("Orderly")
        body = b'{"to": "+919000000001", "amount": 5}'
        json_type = {"content-type": "application/json"}
        broken = await api.http.post("/v1/transfers", content=b"{", headers=json_type)
        assert (broken.status_code, broken.json()["code"]) == (422, "validation_error")
        garbled = await api.http.post("/v1/transfers", content=b'{"\xe2"}', headers=json_type)
        assert (garbled.status_code, garbled.json()["field"]) == (422, "body")  # not UTF-8
        anonymous = await api.http.post("/v1/transfers", content=body, headers=json_type)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
        for scheme in ("Basic abc", "Bearer", "Bearer not-a-token"):
            refused = await api.http.post(
                "/v1/transfers", content=body, headers={**json_type, "Authorization": scheme}
            )
            assert refused.status_code == 401, scheme
        untyped = await api.http.post("/v1/transfers", content=body, headers=user.auth)
        assert untyped.status_code == 422
        assert [e["field"] for e in untyped.json()["errors"]] == ["Idempotency-Key", "body"]
        both = await api.http.post(
            "/v1/transfers",
            content=b'{"to": "+919000000001", "amount": "5"}',
            headers={**user.auth, **json_type},
        )
        assert both.status_code == 422
        fields = [e["field"] for e in both.json()["errors"]]
        assert fields == ["Idempotency-Key", "amount"], fields
        typed = await api.http.post(
            "/v1/transfers",
            content=body,
            headers={
                **user.auth,
                "content-type": "application/merge-patch+json; charset=utf-8",
                "Idempotency-Key": "x" * 256,
            },
        )
        assert (typed.status_code, typed.json()["field"]) == (422, "Idempotency-Key")


async def test_withdrawal_and_topup_validation(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Drawer")
        for path in ("/v1/topups", "/v1/withdrawals"):
            for amount in (0, -1, "5", 1.5, True, None):
                response = await api.post(user, path, {"amount": amount})
                assert response.status_code == 422, (path, amount)
        poor = await api.post(user, "/v1/withdrawals", {"amount": 100})
        assert (poor.status_code, poor.json()["failure_reason"]) == (201, "insufficient_funds")
        assert await api.wallet(user) == (0, 0)
