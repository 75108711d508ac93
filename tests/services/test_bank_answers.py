"""Bank answers are never lost: payments whose deadline passes without a callback become
``unknown`` (a withdrawal keeps its hold), bank-webhook's sweeper asks the bank's status
inquiry about them (here the simulator's, which answers from its own record), and only a
definite answer settles one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from okane_core.app import settlements
from okane_core.db.engine import create_engine, create_session_factory
from okane_core.db.uow import UnitOfWork
from okane_core.ledger.reconcile import reconcile
from okane_core.localstack import Endpoints
from okane_core.settings import load_settings
from tests.services.client import Api, User
from tests.services.conftest import Stack, start_stack, stop_stack


@pytest.fixture(scope="module")
def sweeping_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("sweep-logs"),
        OKANE_BANK_SIMULATOR="true",
        OKANE_EXPIRY_SWEEP_SECONDS="1",
        OKANE_SETTLEMENT_DEADLINE_SECONDS="2",
    )
    yield running
    stop_stack(running)


async def _status(api: Api, user: User, transaction_id: str) -> str:
    response = await api.http.get(f"/v1/transactions/{transaction_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def _until(api: Api, user: User, transaction_id: str, wanted: set[str]) -> str:
    for _ in range(150):
        status = await _status(api, user, transaction_id)
        if status in wanted:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{transaction_id} stayed {status}")


async def test_unknown_payments_are_settled_by_the_banks_status_answer(
    sweeping_stack: Stack,
) -> None:
    settings = load_settings(database_url=sweeping_stack.database_url)
    engine = create_engine(settings, sweeping_stack.database_url)
    bank_record = UnitOfWork(create_session_factory(engine))  # the simulated bank's own books
    try:
        async with sweeping_stack.api() as api:
            user = await api.signup("Farah")
            await api.fund(user, 10_000)
            started = {}
            for name, path, amount in [
                ("paid", "/v1/withdrawals", 1_000),
                ("refused", "/v1/withdrawals", 2_000),
                ("undecided", "/v1/withdrawals", 3_000),
                ("topup", "/v1/topups", 500),
            ]:
                response = await api.post(user, path, {"amount": amount})
                assert response.status_code == 201, response.text
                started[name] = response.json()
            assert await api.wallet(user) == (4_000, 6_000)
            # The bank decides, but its callbacks never arrive.
            for name, succeeded in [("paid", True), ("refused", False), ("topup", True)]:
                await settlements.record_decision(
                    bank_record, started[name]["reference"], succeeded=succeeded
                )

            undecided = started["undecided"]["id"]
            assert await _until(api, user, undecided, {"unknown"}) == "unknown"
            assert await _until(api, user, started["paid"]["id"], {"success"}) == "success"
            assert await _until(api, user, started["refused"]["id"], {"failure"}) == "failure"
            assert await _until(api, user, started["topup"]["id"], {"success"}) == "success"
            # Paid out 1,000; 2,000 refunded; 3,000 still held; the late top-up credited.
            assert await api.wallet(user) == (6_500, 3_000)
            assert await _status(api, user, undecided) == "unknown"

            inquiry = httpx.URL(sweeping_stack.webhook_url).join(
                f"/simulator/payments/{started['undecided']['reference']}"
            )
            answer = await api.bank_http.get(inquiry)
            assert (answer.status_code, answer.json()["status"]) == (200, "pending")
            missing = await api.bank_http.get(inquiry.join("/simulator/payments/wd_nosuch"))
            assert (missing.status_code, missing.json()["status"]) == (404, "not_found")

            # The bank's answer arrives at last, by callback: the hold is paid out, once.
            late = await api.bank.deliver(
                "withdrawal.succeeded", started["undecided"]["reference"], 3_000
            )
            assert late.status == 200, late.body
            assert await api.wallet(user) == (6_500, 0)
        async with create_session_factory(engine)() as s, s.begin():
            assert (await reconcile(s)).violations == []
    finally:
        await engine.dispose()
