"""The database's transfer function held to the pure rules: random sequences of transfers,
sent in random batches through ``okane_transfers_v3``, against a model built from
``domain.decide_transfer``. Same outcomes, same failure reasons, same balances."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import pytest

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import transfers, wallets
from okane_core.ledger.book import Ledger
from okane_core.ledger.domain import Status, TransferParty, decide_transfer
from okane_core.ledger.reconcile import reconcile
from okane_core.settings import Settings, load_settings
from okane_core.users.views import UserRecord
from tests.factories import fund, make_user

DAILY_LIMIT = 3_000
NOBODY = "+919000099999"


@dataclass
class Model:
    """What the pure rules say the ledger holds."""

    balances: dict[uuid.UUID, int]
    spent: dict[uuid.UUID, int] = field(default_factory=dict)
    keys: dict[tuple[uuid.UUID, str], tuple[bytes, tuple[object, ...]]] = field(
        default_factory=dict
    )

    def apply(
        self, request: transfers.TransferRequest, payee: uuid.UUID | None
    ) -> tuple[object, ...]:
        held = self.keys.get((request.payer, request.key))
        if held is not None:
            fingerprint, outcome = held
            if fingerprint != request.request_hash:
                return ("idempotency_conflict",)
            return (*outcome, "replayed")
        payer = TransferParty(
            request.payer, self.balances[request.payer], "INR", self.spent.get(request.payer, 0)
        )
        target = None if payee is None else TransferParty(payee, self.balances[payee], "INR")
        decision = decide_transfer(payer, target, request.amount, daily_limit=DAILY_LIMIT)
        if not isinstance(decision, Status):
            return (str(decision),)  # refused: nothing written, the key stays free
        if decision == Status.SUCCESS:
            assert payee is not None
            self.balances[request.payer] -= request.amount
            self.balances[payee] += request.amount
            self.spent[request.payer] = self.spent.get(request.payer, 0) + request.amount
        outcome = (str(decision), None if decision == Status.SUCCESS else "insufficient_funds")
        self.keys[(request.payer, request.key)] = (request.request_hash, outcome)
        return outcome


def observed(outcome: transfers.TransferOutcome) -> tuple[object, ...]:
    if outcome.error is not None:
        return (outcome.error.code,)
    assert outcome.view is not None
    found = (outcome.view.status, outcome.view.failure_reason)
    return (*found, "replayed") if outcome.replayed else found


@pytest.fixture
def tight(settings: Settings) -> Ledger:
    return Ledger(
        load_settings(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            daily_outgoing_limit=DAILY_LIMIT,
        )
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_batches_follow_the_pure_rules(
    seed: int, sessions: SessionFactory, ledger: Ledger, tight: Ledger
) -> None:
    rng = random.Random(seed)
    people: list[UserRecord] = [await make_user(sessions, ledger) for _ in range(5)]
    model = Model(balances={p.id: 0 for p in people})
    for person in people[:4]:
        amount = rng.choice([500, 1_000, 2_500])
        await fund(sessions, ledger, person.id, amount)
        model.balances[person.id] = amount
    used_keys: list[tuple[UserRecord, str, str, int]] = []
    for _ in range(12):  # batches
        batch: list[tuple[transfers.TransferRequest, uuid.UUID | None]] = []
        for _ in range(rng.randint(1, 12)):
            payer = rng.choice(people)
            roll = rng.random()
            if used_keys and roll < 0.15:
                # A retry with a key already used: the same request, or another one.
                payer, key, to, amount = rng.choice(used_keys)
                if rng.random() < 0.3:
                    amount += 1
            else:
                key = uuid.uuid4().hex
                target = rng.choice(people)
                to = NOBODY if roll > 0.93 else target.phone or ""
                amount = rng.choice([1, 50, 200, 700, 1_500])
            used_keys.append((payer, key, to, amount))
            request = transfers.prepare(
                tight, user_id=payer.id, to=to, amount=amount, note=None, idempotency_key=key
            )
            payee = next((p.id for p in people if p.phone == to), None)
            batch.append((request, payee))
        outcomes = await run_in_transaction(
            sessions, lambda s, batch=batch: transfers.apply(tight, s, [r for r, _ in batch])
        )
        expected = [model.apply(request, payee) for request, payee in batch]
        assert [observed(o) for o in outcomes] == expected
    async with sessions() as s:
        for person in people:
            assert (await wallets.wallet(s, person.id)).available == model.balances[person.id]
    async with sessions() as s, s.begin():
        assert (await reconcile(s)).violations == []
