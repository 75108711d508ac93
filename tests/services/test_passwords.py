"""A password can be changed (knowing the current one) and reset with a code sent to a proven
phone or email. A change signs out every other device, a reset every device, and the owner is
told; a reset is answered alike whether or not the account exists, and its codes are bounded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from okane_core.localstack import Endpoints
from tests.services.client import Api, User, next_phone
from tests.services.conftest import Stack, start_stack, stop_stack

NEW = "a brand new passphrase"


@pytest.fixture(scope="module")
def password_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("password-logs"),
        OKANE_DEV_MAILBOX="true",
        OKANE_CODE_ATTEMPTS="3",
    )
    yield running
    stop_stack(running)


async def log_in(api: Api, login: str, password: str) -> Any:
    return await api.http.post("/v1/auth/login", json={"login": login, "password": password})


async def second_device(api: Api, user: User) -> dict[str, str]:
    other = await log_in(api, user.phone, user.password)
    assert other.status_code == 200
    return {"Authorization": f"Bearer {other.json()['access_token']}"}


async def test_changing_the_password_needs_the_old_one_and_signs_out_other_devices(
    password_stack: Stack,
) -> None:
    async with password_stack.api() as api:
        user = await api.signup("Changer")
        other = await second_device(api, user)
        wrong = await api.http.post(
            "/v1/me/password",
            json={"current_password": "not it at all", "new_password": NEW},
            headers=user.auth,
        )
        assert wrong.status_code == 403 and wrong.json()["field"] == "current_password"
        changed = await api.http.post(
            "/v1/me/password",
            json={"current_password": user.password, "new_password": NEW},
            headers=user.auth,
        )
        assert changed.status_code == 204, changed.text
        assert (await api.http.get("/v1/me", headers=user.auth)).status_code == 200  # this one
        assert (await api.http.get("/v1/me", headers=other)).status_code == 401  # the others
        assert (await log_in(api, user.phone, user.password)).status_code == 401
        assert (await log_in(api, user.phone, NEW)).status_code == 200
        told = [m for m in await api.mailbox(user.phone) if m["kind"] == "password_changed"]
        assert len(told) == 1


async def test_a_reset_code_goes_only_to_a_proven_address_and_ends_every_session(
    password_stack: Stack,
) -> None:
    async with password_stack.api() as api:
        tag = uuid.uuid4().hex[:8]
        user = await api.signup("Forgetful", email=f"forgot-{tag}@example.com")
        other = await second_device(api, user)
        start = {"login": user.phone}
        unproven = await api.http.post("/v1/auth/password-reset", json=start)
        nobody = await api.http.post("/v1/auth/password-reset", json={"login": next_phone()})
        assert unproven.status_code == nobody.status_code == 202
        assert unproven.json() == nobody.json()
        kinds = [m["kind"] for m in await api.mailbox(user.phone)]
        assert "password_reset_code" not in kinds  # an unproven phone gets no reset code

        await api.verify_phone(user)
        assert (await api.http.post("/v1/auth/password-reset", json=start)).status_code == 202
        code = await api.code_for(user.phone, "password_reset_code")
        confirm = {
            "login": user.phone,
            "code": f"{(int(code) + 1) % 10**6:06d}",
            "new_password": NEW,
        }
        wrong = await api.http.post("/v1/auth/password-reset/confirm", json=confirm)
        assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_code"
        stranger = await api.http.post(
            "/v1/auth/password-reset/confirm", json={**confirm, "login": next_phone()}
        )
        assert {k: v for k, v in stranger.json().items() if k != "instance"} == {
            k: v for k, v in wrong.json().items() if k != "instance"
        }
        done = await api.http.post(
            "/v1/auth/password-reset/confirm", json={**confirm, "code": code}
        )
        assert done.status_code == 204, done.text
        for auth in (user.auth, other):
            assert (await api.http.get("/v1/me", headers=auth)).status_code == 401
        assert (await log_in(api, user.phone, NEW)).status_code == 200
        reused = await api.http.post(
            "/v1/auth/password-reset/confirm", json={**confirm, "code": code}
        )
        assert reused.status_code == 403
        told = [m for m in await api.mailbox(user.phone) if m["kind"] == "password_changed"]
        assert len(told) == 1


async def test_reset_codes_die_after_their_tries(password_stack: Stack) -> None:
    async with password_stack.api() as api:
        user = await api.signup("Targeted")
        await api.verify_phone(user)
        assert (
            await api.http.post("/v1/auth/password-reset", json={"login": user.phone})
        ).status_code == 202
        code = await api.code_for(user.phone, "password_reset_code")
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        body = {"login": user.phone, "new_password": NEW}
        for _ in range(3):
            answer = await api.http.post(
                "/v1/auth/password-reset/confirm", json={**body, "code": wrong}
            )
            assert answer.status_code == 403
        late = await api.http.post("/v1/auth/password-reset/confirm", json={**body, "code": code})
        assert late.status_code == 403  # the right code, after the tries ran out
        assert (await log_in(api, user.phone, user.password)).status_code == 200
