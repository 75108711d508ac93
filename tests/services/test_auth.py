"""Sign-up, login, refresh rotation, logout and rate limits over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from okane_core.localstack import Endpoints
from okane_user_api.auth.tokens import TokenIssuer
from tests.services.client import next_phone
from tests.services.conftest import Stack, start_stack, stop_stack

PASSWORD = "correct horse battery"


async def test_signup_returns_the_contract_and_refuses_bad_input(stack: Stack) -> None:
    async with stack.api() as api:
        phone = next_phone()
        email = f"Mixed.Case-{uuid.uuid4().hex[:6]}@Example.com"
        created = await api.http.post(
            "/v1/auth/signup",
            json={"name": "  Meera  Iyer ", "phone": phone, "email": email, "password": PASSWORD},
        )
        assert created.status_code == 201
        body = created.json()
        assert set(body) >= {"id", "name", "phone", "email"}
        assert (body["name"], body["phone"], body["email"]) == ("Meera Iyer", phone, email.lower())
        assert "password" not in created.text

        duplicate = await api.http.post(
            "/v1/auth/signup", json={"name": "X", "phone": phone, "password": PASSWORD}
        )
        assert duplicate.status_code == 409
        assert duplicate.headers["content-type"] == "application/problem+json"
        assert (duplicate.json()["code"], duplicate.json()["field"]) == ("duplicate_user", "phone")

        cases = [
            ({"name": "X", "phone": "12", "password": PASSWORD}, "phone"),
            ({"name": "X", "phone": next_phone(), "password": "short"}, "password"),
            ({"name": "", "phone": next_phone(), "password": PASSWORD}, "name"),
            ({"name": "X", "phone": next_phone(), "password": PASSWORD, "admin": True}, "admin"),
            ({"name": "X", "phone": next_phone(), "password": PASSWORD, "email": "nope"}, "email"),
            ({"name": "X", "phone": 9876543210, "password": PASSWORD}, "phone"),
        ]
        for payload, field in cases:
            refused = await api.http.post("/v1/auth/signup", json=payload)
            assert refused.status_code == 422, (payload, refused.text)
            problem = refused.json()
            assert problem["field"] == field, problem
            assert problem["status"] == 422 and problem["detail"]


async def test_login_by_phone_or_email_and_wrong_password(stack: Stack) -> None:
    async with stack.api() as api:
        email = f"login-{uuid.uuid4().hex[:6]}@example.com"
        user = await api.signup("Lina", email=email)
        by_email = await api.http.post(
            "/v1/auth/login", json={"login": email.upper(), "password": PASSWORD}
        )
        assert by_email.status_code == 200
        tokens = by_email.json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
        national = user.phone.removeprefix("+91")
        by_phone = await api.http.post(
            "/v1/auth/login", json={"login": national, "password": PASSWORD}
        )
        assert by_phone.status_code == 200
        wrong = await api.http.post(
            "/v1/auth/login", json={"login": email, "password": "nope-nope"}
        )
        unknown = await api.http.post(
            "/v1/auth/login", json={"login": "ghost@example.com", "password": PASSWORD}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


async def test_a_refresh_retried_after_a_lost_answer_gets_the_same_new_token(
    stack: Stack,
) -> None:
    async with stack.api() as api:
        user = await api.signup("Noor")
        body = {"refresh_token": user.refresh_token}
        first = await api.http.post("/v1/auth/refresh", json=body)
        assert first.status_code == 200
        # The answer was lost; the client retries with the token it still has.
        retried = await api.http.post("/v1/auth/refresh", json=body)
        assert retried.status_code == 200
        assert retried.json()["refresh_token"] == first.json()["refresh_token"]
        again = {"Authorization": f"Bearer {retried.json()['access_token']}"}
        assert (await api.http.get("/v1/me", headers=again)).status_code == 200
        onward = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": retried.json()["refresh_token"]}
        )
        assert onward.status_code == 200
        assert onward.json()["refresh_token"] not in {
            user.refresh_token,
            first.json()["refresh_token"],
        }


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    strict_stack: Stack,
) -> None:
    """With no retry window (``OKANE_REFRESH_RETRY_SECONDS=0``, as after it has passed)."""
    async with strict_stack.api() as api:
        user = await api.signup("Rafi")
        first = await api.http.post("/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert first.status_code == 200
        rotated = first.json()
        assert rotated["refresh_token"] != user.refresh_token
        fresh = {"Authorization": f"Bearer {rotated['access_token']}"}
        assert (await api.http.get("/v1/me", headers=fresh)).status_code == 200
        # The old refresh token was copied and is replayed: the whole session ends.
        replay = await api.http.post("/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert replay.status_code == 401
        assert (await api.http.get("/v1/me", headers=fresh)).status_code == 401
        assert (
            await api.http.post(
                "/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
            )
        ).status_code == 401
        garbage = await api.http.post("/v1/auth/refresh", json={"refresh_token": "x" * 40})
        assert garbage.status_code == 401


async def test_logout_revokes_access_and_refresh(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Omar")
        other = await api.http.post(
            "/v1/auth/login", json={"login": user.phone, "password": PASSWORD}
        )
        other_auth = {"Authorization": f"Bearer {other.json()['access_token']}"}
        out = await api.http.post("/v1/auth/logout", headers=user.auth)
        assert out.status_code == 204
        assert (await api.http.get("/v1/wallet", headers=user.auth)).status_code == 401
        refresh = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": user.refresh_token}
        )
        assert refresh.status_code == 401
        # Only that session: the user's other login still works.
        assert (await api.http.get("/v1/wallet", headers=other_auth)).status_code == 200


async def test_tampered_and_expired_tokens_are_refused(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Tara")
        head, payload, signature = user.access_token.split(".")
        tampered = f"{head}.{payload}.{signature[:-2]}AA"
        issuer = TokenIssuer(stack.jwt_secret, lifetime_seconds=1)
        me = (await api.http.get("/v1/me", headers=user.auth)).json()
        expired = issuer.issue(uuid.UUID(me["id"]), uuid.uuid4(), is_admin=False)
        forged = TokenIssuer("another-secret-of-thirty-two-bytes!!", lifetime_seconds=60).issue(
            uuid.UUID(me["id"]), uuid.uuid4(), is_admin=True
        )
        await asyncio.sleep(7)  # past expiry plus the 5 s leeway
        for token in (tampered, expired, forged, "not-a-jwt"):
            response = await api.http.get(
                "/v1/wallet", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, token
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture(scope="module")
def strict_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # A Redis database of its own, so the per-address counter starts from zero.
    redis_url = endpoints.redis_url.rsplit("/", 1)[0] + "/3"
    running = start_stack(
        module_database_url,
        redis_url,
        tmp_path_factory.mktemp("strict-logs"),
        OKANE_LOGIN_ATTEMPTS_PER_ADDRESS="12",
        OKANE_LOGIN_ATTEMPTS_PER_ACCOUNT="3",
        OKANE_REFRESH_RETRY_SECONDS="0",
    )
    yield running
    stop_stack(running)


async def test_login_is_rate_limited_per_account_and_per_address(strict_stack: Stack) -> None:
    # Counters live in PostgreSQL: start from none (other tests of the module logged in).
    async with await psycopg.AsyncConnection.connect(
        strict_stack.database_url.replace("+psycopg", ""), autocommit=True
    ) as conn:
        await conn.execute("DELETE FROM rate_limits")
    async with strict_stack.api() as api:
        user = await api.signup("Kavi")  # one login attempt
        statuses = []
        for _ in range(4):
            response = await api.http.post(
                "/v1/auth/login", json={"login": user.phone, "password": "wrong-password"}
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429]
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["code"] == "rate_limited"
        # Even the right password is refused from this address while it is throttled.
        locked = await api.http.post(
            "/v1/auth/login", json={"login": user.phone, "password": PASSWORD}
        )
        assert locked.status_code == 429
        # Another account from the same address: allowed until the address limit (12) is hit.
        other = await api.signup("Nila")  # attempt 7
        codes = []
        for _ in range(6):
            response = await api.http.post(
                "/v1/auth/login", json={"login": other.phone, "password": PASSWORD}
            )
            codes.append(response.status_code)
        assert codes == [200, 200, 200, 200, 200, 429]
        assert int(response.headers["retry-after"]) > 0


async def test_signed_in_devices_are_listed_and_each_can_be_signed_out(stack: Stack) -> None:
    async with stack.api() as api:
        user = await api.signup("Devika")  # device one
        login = {"login": user.phone, "password": user.password}
        other = (await api.http.post("/v1/auth/login", json=login)).json()
        other_auth = {"Authorization": f"Bearer {other['access_token']}"}
        listed = await api.http.get("/v1/sessions", headers=user.auth)
        assert listed.status_code == 200
        devices = listed.json()["data"]
        assert len(devices) == 2
        assert sum(d["current"] for d in devices) == 1
        theirs = next(d["id"] for d in devices if not d["current"])
        assert (
            await api.http.delete(f"/v1/sessions/{theirs}", headers=user.auth)
        ).status_code == 204
        # Signed out everywhere before the answer: its access and refresh tokens are dead.
        assert (await api.http.get("/v1/me", headers=other_auth)).status_code == 401
        refreshed = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert refreshed.status_code == 401
        again = await api.http.delete(f"/v1/sessions/{theirs}", headers=user.auth)
        assert (again.status_code, again.json()["code"]) == (404, "session_not_found")
        left = (await api.http.get("/v1/sessions", headers=user.auth)).json()["data"]
        assert [d["current"] for d in left] == [True]
        assert (await api.http.get("/v1/me", headers=user.auth)).status_code == 200
