"""The authorization matrix: every endpoint, without a token and with another user's token.

The matrix is built from the OpenAPI document, so a new endpoint cannot be forgotten.
Figures (endpoints x cases) are written to ``.okane/test-reports/authorization-matrix.json``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.services.conftest import Stack

REPORT = (
    Path(__file__).resolve().parents[2] / ".okane" / "test-reports" / "authorization-matrix.json"
)
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("GET", "/v1/auth/google/login"),
    ("GET", "/v1/auth/google/callback"),
    # Proof by possession of a code, never by token: answered alike for every account.
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/v1/auth/login/code"),
    ("POST", "/v1/auth/signup/confirm"),
    ("POST", "/v1/auth/password-reset/confirm"),
    ("POST", "/v1/email-verification"),
}


async def test_every_endpoint_requires_a_token_and_scopes_objects_to_their_owner(
    stack: Stack,
) -> None:
    async with stack.api() as api:
        owner = await api.signup("Owner")
        intruder = await api.signup("Intruder")
        bystander = await api.signup("Bystander")
        await api.fund(owner, 10_000)
        await api.fund(intruder, 10_000)
        paid = (await api.transfer(owner, intruder.phone, 100)).json()
        own = (await api.transfer(owner, bystander.phone, 200)).json()
        topup = (await api.post(owner, "/v1/topups", {"amount": 500})).json()
        spec = (await api.http.get("/openapi.json")).json()
        bodies = {
            "/v1/topups": {"amount": 100},
            "/v1/transfers": {"to": intruder.phone, "amount": 100},
            "/v1/withdrawals": {"amount": 100},
            "/v1/auth/logout": {},
            "/v1/me": {"name": "Hacked"},
            "/v1/me/password": {"current_password": "x", "new_password": "y" * 12},
            "/v1/me/verification": {"channel": "phone"},
            "/v1/me/verification/confirm": {"channel": "phone", "code": "000000"},
            "/v1/admin/transactions/{transaction_id}/reversal": {},
            "/v1/admin/requests/{request_id}/approval": {},
            "/v1/admin/requests/{request_id}/rejection": {},
            "/v1/admin/cache/warm": {},
        }
        matrix: dict[str, dict[str, int]] = {}
        for path, operations in spec["paths"].items():
            for method in operations:
                verb = method.upper()
                if (verb, path) in PUBLIC:
                    continue
                url = (
                    path.replace("{transaction_id}", paid["id"])
                    .replace("{session_id}", str(uuid.uuid4()))
                    .replace("{request_id}", str(uuid.uuid4()))
                )
                kwargs: dict[str, Any] = {"json": bodies[path]} if verb in {"POST", "PATCH"} else {}
                headers = {"Idempotency-Key": uuid.uuid4().hex}
                anonymous = await api.http.request(verb, url, headers=headers, **kwargs)
                assert anonymous.status_code == 401, (verb, path, anonymous.text)
                assert anonymous.json()["code"] == "unauthenticated"
                bogus = await api.http.request(
                    verb, url, headers={**headers, "Authorization": "Bearer x.y.z"}, **kwargs
                )
                assert bogus.status_code == 401, (verb, path)
                matrix[f"{verb} {path}"] = {"no_token": 401, "bad_token": 401}
        # Another user's objects: never 2xx, and indistinguishable from "does not exist".
        for target in (own["id"], topup["id"]):
            theirs = await api.http.get(f"/v1/transactions/{target}", headers=intruder.auth)
            missing = await api.http.get(f"/v1/transactions/{uuid.uuid4()}", headers=intruder.auth)
            assert theirs.status_code == missing.status_code == 404
            assert theirs.json()["code"] == missing.json()["code"]
            cursor = await api.http.get(
                f"/v1/transactions?starting_after={target}", headers=intruder.auth
            )
            assert cursor.status_code == 404
        matrix["GET /v1/transactions/{transaction_id}"]["other_users_object"] = 404
        matrix["GET /v1/transactions"]["other_users_cursor"] = 404
        # The intruder sees the transfer it received, but never the payer's top-up or balance.
        history = (await api.http.get("/v1/transactions?limit=100", headers=intruder.auth)).json()
        assert topup["id"] not in {t["id"] for t in history["data"]}
        # Another user's session: as missing as one that never existed, and it stays signed in.
        owner_sessions = (await api.http.get("/v1/sessions", headers=owner.auth)).json()["data"]
        theirs_session = owner_sessions[0]["id"]
        ended = await api.http.delete(f"/v1/sessions/{theirs_session}", headers=intruder.auth)
        never = await api.http.delete(f"/v1/sessions/{uuid.uuid4()}", headers=intruder.auth)
        assert ended.status_code == never.status_code == 404
        assert ended.json()["code"] == never.json()["code"]
        assert (await api.http.get("/v1/me", headers=owner.auth)).status_code == 200
        mine = (await api.http.get("/v1/sessions", headers=intruder.auth)).json()["data"]
        assert theirs_session not in {s["id"] for s in mine}
        matrix["DELETE /v1/sessions/{session_id}"]["other_users_object"] = 404
        # Admin-only: a user token is 403.
        reversal = await api.http.post(
            f"/v1/admin/transactions/{paid['id']}/reversal", json={}, headers=intruder.auth
        )
        assert reversal.status_code == 403
        matrix["POST /v1/admin/transactions/{transaction_id}/reversal"]["non_admin"] = 403
        for verb, path in [
            ("POST", "/v1/admin/requests/{request_id}/approval"),
            ("POST", "/v1/admin/requests/{request_id}/rejection"),
            ("GET", "/v1/admin/requests"),
            ("GET", "/v1/admin/audit"),
            ("POST", "/v1/admin/cache/warm"),
        ]:
            url = path.replace("{request_id}", str(uuid.uuid4()))
            kwargs = {"json": {}} if verb == "POST" else {}
            answer = await api.http.request(verb, url, headers=intruder.auth, **kwargs)
            assert answer.status_code == 403, (verb, path, answer.text)
            matrix[f"{verb} {path}"]["non_admin"] = 403
        assert await api.wallet(owner) == (10_000 - 300, 0)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        cases = sum(len(v) for v in matrix.values())
        REPORT.write_text(
            json.dumps({"endpoints": len(matrix), "cases": cases, "matrix": matrix}, indent=2)
        )
        assert len(matrix) >= 11
