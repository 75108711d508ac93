"""The bank run through the HTTP API: 32 concurrent clients, idempotent replays and duplicate
webhook deliveries, then the books must balance exactly.

Figures go to ``.okane/test-reports/http-bank-run.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from okane_core.db.engine import create_engine, create_session_factory
from okane_core.ledger.reconcile import reconcile
from okane_core.settings import load_settings
from tests.services.client import User
from tests.services.conftest import Stack

SEED = int(os.environ.get("OKANE_BANK_RUN_SEED", "20261126"))
SECONDS = float(os.environ.get("OKANE_BANK_RUN_SECONDS", "20"))
CLIENTS = 32
USERS = 40
REPORT = Path(__file__).resolve().parents[2] / ".okane" / "test-reports" / "http-bank-run.json"


@pytest.mark.slow
async def test_http_bank_run(stack: Stack) -> None:
    rng = random.Random(SEED)
    statuses: Counter[str] = Counter()
    unexpected: list[str] = []
    created: dict[str, str] = {}
    pending: list[tuple[str, str, int]] = []
    recent: list[tuple[User, dict[str, object], str, str]] = []
    money_in = 0
    money_out = 0
    async with stack.api() as api:
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
        deadline = time.monotonic() + SECONDS
        latencies: list[float] = []

        async def client(seed: int) -> None:
            r = random.Random(seed)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await r.choices(operations, weights)[0](r)
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(client(rng.randrange(2**32)) for _ in range(CLIENTS)))
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
        "violations": len(report.violations),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2, sort_keys=True))

    assert unexpected == []
    assert report.violations == []
    assert set(created) <= stored
    assert sum(a + locked for a, locked in wallets) == money_in - money_out
    assert all(locked == 0 for _, locked in wallets)
    assert operations_done > 300
