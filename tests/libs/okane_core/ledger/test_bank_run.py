"""The bank test: many concurrent connections run a seeded random mix of every money-moving
operation for a fixed time; afterwards the books must balance exactly.

Figures are written to ``.okane/test-reports/ledger-bank-run.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from okane_core.db.engine import create_engine, create_session_factory, run_in_transaction
from okane_core.errors import OkaneError
from okane_core.ledger import topups, transfers, withdrawals
from okane_core.ledger.bank import apply_bank_event
from okane_core.ledger.book import Ledger
from okane_core.ledger.reconcile import reconcile
from okane_core.settings import Settings
from tests.factories import fund, make_user

SEED = int(os.environ.get("OKANE_BANK_RUN_SEED", "20261126"))
SECONDS = float(os.environ.get("OKANE_BANK_RUN_SECONDS", "20"))
WORKERS = 16
USERS = 24
REPORT = Path(__file__).resolve().parents[4] / ".okane" / "test-reports" / "ledger-bank-run.json"


@dataclass
class Tally:
    operations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    created: dict[uuid.UUID, str] = field(default_factory=dict)  # transaction id -> status
    replay_mismatches: int = 0
    topped_up: int = 0
    withdrawn: int = 0
    pending: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, reference, amount)


@pytest.mark.slow
async def test_bank_run_keeps_the_books_exact(settings: Settings) -> None:
    settings = settings.model_copy(
        update={
            "db_pool_size": WORKERS + 4,
            "daily_outgoing_limit": 10**12,
            "daily_topup_limit": 10**12,
        }
    )
    assert settings.database_url is not None
    engine = create_engine(settings, settings.database_url, application_name="okane-bank-run")
    sessions = create_session_factory(engine)
    ledger = Ledger(settings)
    rng = random.Random(SEED)
    users = [(await make_user(sessions, ledger, name=f"user{i}")).id for i in range(USERS)]
    hot = users[0]
    for user_id in users:
        await fund(sessions, ledger, user_id, 50_000)
    tally = Tally()
    tally.topped_up = 50_000 * USERS
    deadline = time.monotonic() + SECONDS
    recent: list[tuple[uuid.UUID, str, str, int, uuid.UUID]] = []  # for replays

    async def transfer(worker: random.Random) -> None:
        kind = worker.random()
        if kind < 0.3:
            sender, recipient = worker.choice(users[1:]), hot  # everyone pays the merchant
        elif kind < 0.5 and recent:
            _, _, to, _, last_sender = worker.choice(recent)
            sender, recipient = uuid.UUID(to), last_sender  # opposite direction of a recent one
        else:
            sender, recipient = worker.sample(users, 2)
        if sender == recipient:
            return
        amount = worker.randint(1, 4_000)
        key = uuid.uuid4().hex
        view, replay = await run_in_transaction(
            sessions,
            lambda s: transfers.transfer(
                ledger, s, user_id=sender, to=str(recipient), amount=amount, idempotency_key=key
            ),
        )
        assert not replay
        tally.created[view.id] = view.status
        tally.operations[f"transfer_{view.status}"] += 1
        recent.append((view.id, key, str(recipient), amount, sender))
        del recent[:-200]

    async def replay(worker: random.Random) -> None:
        if not recent:
            return
        txn_id, key, to, amount, sender = worker.choice(recent)
        view, replayed = await run_in_transaction(
            sessions,
            lambda s: transfers.transfer(
                ledger, s, user_id=sender, to=to, amount=amount, idempotency_key=key
            ),
        )
        if not replayed or view.id != txn_id:
            tally.replay_mismatches += 1
        tally.operations["replay"] += 1

    async def topup(worker: random.Random) -> None:
        user_id = worker.choice(users)
        amount = worker.randint(100, 20_000)
        view, _ = await run_in_transaction(
            sessions,
            lambda s: topups.start_topup(
                ledger, s, user_id=user_id, amount=amount, idempotency_key=uuid.uuid4().hex
            ),
        )
        assert view.reference is not None
        tally.created[view.id] = view.status
        tally.pending.append(("topup", view.reference, amount))
        tally.operations["topup_started"] += 1

    async def withdraw(worker: random.Random) -> None:
        user_id = worker.choice(users)
        amount = worker.randint(100, 10_000)
        view, _ = await run_in_transaction(
            sessions,
            lambda s: withdrawals.request_withdrawal(
                ledger, s, user_id=user_id, amount=amount, idempotency_key=uuid.uuid4().hex
            ),
        )
        tally.created[view.id] = view.status
        tally.operations[f"withdrawal_{view.status}"] += 1
        if view.reference is not None:
            tally.pending.append(("withdrawal", view.reference, amount))

    async def settle(worker: random.Random) -> None:
        if not tally.pending:
            return
        kind, reference, amount = tally.pending.pop(worker.randrange(len(tally.pending)))
        success = worker.random() < 0.8
        event_id = uuid.uuid4().hex
        event_type = f"{kind}.{'succeeded' if success else 'failed'}"
        deliveries = 3 if worker.random() < 0.3 else 1  # the bank retries, sometimes at once
        results = await asyncio.gather(
            *(
                run_in_transaction(
                    sessions,
                    lambda s: apply_bank_event(
                        s,
                        event_id=event_id,
                        event_type=event_type,
                        reference=reference,
                        amount=amount,
                    ),
                )
                for _ in range(deliveries)
            )
        )
        applied = [r for r in results if not r.replayed]
        assert len(applied) == 1 and all(r.response == applied[0].response for r in results)
        assert applied[0].outcome == "applied", applied[0].response
        if success and kind == "topup":
            tally.topped_up += amount
        if success and kind == "withdrawal":
            tally.withdrawn += amount
        tally.operations[f"{kind}_settled"] += 1
        tally.operations["duplicate_delivery"] += deliveries - 1

    mix = [(transfer, 55), (replay, 10), (topup, 10), (withdraw, 10), (settle, 15)]
    ops, weights = zip(*mix, strict=True)

    async def worker(seed: int) -> None:
        local = random.Random(seed)
        while time.monotonic() < deadline:
            op = local.choices(ops, weights)[0]
            try:
                await op(local)
            except OkaneError as error:
                tally.errors[error.code] += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(rng.randrange(2**32)) for _ in range(WORKERS)))
    elapsed = time.monotonic() - started

    # Let the bank answer everything still pending, so the final balances are fully determined.
    while tally.pending:
        await settle(rng)

    async with sessions() as s, s.begin():
        report = await reconcile(s)
        stored = set((await s.execute(text("SELECT id FROM transactions"))).scalars())
        wallets = (
            await s.execute(
                text(
                    "SELECT coalesce(sum(available + locked), 0), min(available), "
                    "min(locked) FROM accounts WHERE kind = 'wallet'"
                )
            )
        ).one()
    await engine.dispose()

    operations = sum(tally.operations.values())
    figures = {
        "seed": SEED,
        "workers": WORKERS,
        "users": USERS,
        "seconds": round(elapsed, 2),
        "operations": operations,
        "by_operation": dict(tally.operations),
        "refused": dict(tally.errors),
        "violations": len(report.violations),
        "checked": report.checked,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2, sort_keys=True))

    assert report.violations == []
    assert tally.errors == Counter(), (
        "no operation may fail with an error (deadlocks, lock timeouts)"
    )
    assert tally.replay_mismatches == 0
    # Every transaction a caller was told about exists once; nothing exists that nobody was told of
    # (the set-up top-ups are excluded by counting them separately).
    reported_ids = set(tally.created)
    assert reported_ids <= stored
    assert len(stored - reported_ids) == USERS  # the set-up top-ups
    # Money is conserved: wallets hold exactly what came in from the bank minus what went out.
    total, min_available, min_locked = wallets
    assert total == tally.topped_up - tally.withdrawn
    assert min_available >= 0 and min_locked == 0
    assert operations > 500
