"""The bank run through the HTTP API: 32 concurrent clients, idempotent replays and duplicate
webhook deliveries, then the books must balance exactly. Run as is, then while every database
connection of the services is terminated once a second, then across a PostgreSQL restart: no
answer may be a 500, and no money may be lost, created or moved twice.

Figures go to ``.okane/test-reports/http-bank-run*.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from okane_core.db.engine import create_engine, create_session_factory
from okane_core.db.migrate import upgrade
from okane_core.ledger.reconcile import reconcile
from okane_core.localstack import Endpoints, LocalPostgres, free_port
from okane_core.settings import load_settings
from tests.services.client import Api, User
from tests.services.conftest import Stack, start_stack, stop_stack

SEED = int(os.environ.get("OKANE_BANK_RUN_SEED", "20261126"))
SECONDS = float(os.environ.get("OKANE_BANK_RUN_SECONDS", "20"))
FAULT_SECONDS = 12.0
CLIENTS = 32
USERS = 40
REPORT = Path(__file__).resolve().parents[2] / ".okane" / "test-reports" / "http-bank-run.json"


Fault = Callable[[float], Awaitable[None]]


async def no_fault(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.mark.slow
async def test_http_bank_run(stack: Stack) -> None:
    await bank_run(stack, SECONDS, no_fault, REPORT)


@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A PostgreSQL of this module's own, so restarting it stops no other test."""
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    server.start()
    upgrade(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_stack(
    private_postgres: LocalPostgres, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        private_postgres.url, endpoints.redis_url, tmp_path_factory.mktemp("faulty-logs")
    )
    yield running
    stop_stack(running)


@pytest.mark.slow
async def test_http_bank_run_while_connections_are_terminated(faulty_stack: Stack) -> None:
    admin = make_url(faulty_stack.database_url).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)

    terminated = 0

    async def terminate_every_second(seconds: float) -> None:
        nonlocal terminated
        deadline = time.monotonic() + seconds
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            while time.monotonic() < deadline:
                cursor = await conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                terminated += (await cursor.fetchone() or (0,))[0]
                await asyncio.sleep(1.0)

    report = REPORT.with_name("http-bank-run-terminated.json")
    figures = await bank_run(faulty_stack, FAULT_SECONDS, terminate_every_second, report)
    assert terminated > 10, "the fault never happened"
    figures["connections_terminated"] = terminated
    write_report(report, figures)


@pytest.mark.slow
async def test_http_bank_run_across_a_postgres_restart(
    faulty_stack: Stack, private_postgres: LocalPostgres
) -> None:
    conninfo = make_url(private_postgres.url).set(drivername="postgresql")
    started_at: list[object] = []

    async def postmaster_started() -> object:
        url = conninfo.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            row = await (await conn.execute("SELECT pg_postmaster_start_time()")).fetchone()
            return None if row is None else row[0]

    async def restart(seconds: float) -> None:
        started_at.append(await postmaster_started())
        await asyncio.sleep(seconds / 3)
        await asyncio.to_thread(private_postgres.stop)
        await asyncio.to_thread(private_postgres.start)
        started_at.append(await postmaster_started())
        await asyncio.sleep(seconds * 2 / 3)

    await bank_run(
        faulty_stack, FAULT_SECONDS, restart, REPORT.with_name("http-bank-run-restart.json")
    )
    assert len(started_at) == 2 and started_at[0] != started_at[1], "PostgreSQL never restarted"


def write_report(path: Path, figures: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))


async def bank_run(
    stack: Stack, seconds: float, fault: Fault, report_path: Path
) -> dict[str, object]:
    """Run the mix for ``seconds`` while ``fault(seconds)`` runs; check the books; report."""
    rng = random.Random(SEED)
    statuses: Counter[str] = Counter()
    unexpected: list[str] = []
    created: dict[str, str] = {}
    pending: list[tuple[str, str, int]] = []
    recent: list[tuple[User, dict[str, object], str, str]] = []
    money_in = 0
    money_out = 0
    async with stack.api() as api:
        api.retries = 15 if fault is not no_fault else Api.retries
        users = list(await asyncio.gather(*(api.signup(f"Client {i}") for i in range(USERS))))
        merchant = users[0]
        for user in users:
            await api.fund(user, 100_000)
        money_in = 100_000 * USERS

        async def transfer(r: random.Random) -> None:
            choice = r.random()
            if choice < 0.3:
                payer, payee = r.choice(users[1:]), merchant
            elif choice < 0.45 and recent:
                last_payer, body, _, _ = r.choice(recent)
                payer = next(u for u in users if u.phone == body["to"])
                payee = last_payer
            else:
                payer, payee = r.sample(users, 2)
            body = {"to": payee.phone, "amount": r.randint(1, 3_000)}
            key = uuid.uuid4().hex
            response = await api.post(payer, "/v1/transfers", body, key)
            if response.status_code != 201:
                unexpected.append(f"transfer {response.status_code} {response.text}")
                return
            result = response.json()
            created[result["id"]] = result["status"]
            statuses[f"transfer_{result['status']}"] += 1
            recent.append((payer, body, key, result["id"]))
            del recent[:-300]

        async def replay(r: random.Random) -> None:
            if not recent:
                return
            payer, body, key, first_id = r.choice(recent)
            response = await api.post(payer, "/v1/transfers", body, key)
            if response.status_code != 201 or response.json()["id"] != first_id:
                unexpected.append(f"replay {response.status_code} {response.text}")
            statuses["replay"] += 1

        async def topup(r: random.Random) -> None:
            user = r.choice(users)
            amount = r.randint(100, 20_000)
            response = await api.post(user, "/v1/topups", {"amount": amount})
            if response.status_code != 201:
                unexpected.append(f"topup {response.status_code} {response.text}")
                return
            created[response.json()["id"]] = "processing"
            pending.append(("topup", response.json()["reference"], amount))
            statuses["topup_started"] += 1

        async def withdraw(r: random.Random) -> None:
            user = r.choice(users)
            amount = r.randint(100, 8_000)
            response = await api.post(user, "/v1/withdrawals", {"amount": amount})
            if response.status_code != 201:
                unexpected.append(f"withdrawal {response.status_code} {response.text}")
                return
            body = response.json()
            created[body["id"]] = body["status"]
            statuses[f"withdrawal_{body['status']}"] += 1
            if body["status"] == "processing":
                pending.append(("withdrawal", body["reference"], amount))

        async def settle(r: random.Random) -> None:
            nonlocal money_in, money_out
            if not pending:
                return
            kind, reference, amount = pending.pop(r.randrange(len(pending)))
            approve = r.random() < 0.8
            event = f"{kind}.{'succeeded' if approve else 'failed'}"
            event_id = uuid.uuid4().hex
            copies = 3 if r.random() < 0.3 else 1  # the bank delivers some events more than once
            deliveries = await asyncio.gather(
                *(
                    api.bank.deliver(event, reference, amount, event_id=event_id)
                    for _ in range(copies)
                )
            )
            if (
                any(d.status != 200 for d in deliveries)
                or len({json.dumps(d.body, sort_keys=True) for d in deliveries}) != 1
            ):
                unexpected.append(f"settle {[(d.status, d.body) for d in deliveries]}")
                return
            if approve and kind == "topup":
                money_in += amount
            if approve and kind == "withdrawal":
                money_out += amount
            statuses[f"{kind}_settled"] += 1
            statuses["duplicate_delivery"] += copies - 1

        mix = [(transfer, 55), (replay, 10), (topup, 10), (withdraw, 10), (settle, 15)]
        operations, weights = zip(*mix, strict=True)
        deadline = time.monotonic() + seconds
        latencies: list[float] = []

        async def client(seed: int) -> None:
            r = random.Random(seed)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await r.choices(operations, weights)[0](r)
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(
            fault(seconds), *(client(rng.randrange(2**32)) for _ in range(CLIENTS))
        )
        elapsed = time.monotonic() - started
        while pending:
            await settle(rng)
        wallets = [await api.wallet(u) for u in users]

    settings = load_settings(database_url=stack.database_url)
    engine = create_engine(settings, stack.database_url)
    async with create_session_factory(engine)() as s, s.begin():
        report = await reconcile(s)
        stored = set(map(str, (await s.execute(text("SELECT id FROM transactions"))).scalars()))
    await engine.dispose()

    latencies.sort()
    operations_done = sum(statuses.values())
    figures = {
        "clients": CLIENTS,
        "users": USERS,
        "seconds": round(elapsed, 2),
        "requests": operations_done,
        "by_operation": dict(statuses),
        "unexpected": len(unexpected),
        "answers_503_retried": api.retried_503,
        "violations": len(report.violations),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }
    write_report(report_path, figures)

    assert unexpected == []
    assert report.violations == []
    assert set(created) <= stored
    assert sum(a + locked for a, locked in wallets) == money_in - money_out
    assert all(locked == 0 for _, locked in wallets)
    assert operations_done > 300
    return figures
