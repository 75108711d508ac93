"""The daily outgoing limit over each account's counter of the day (migration 0012): every path
that debits a wallet keeps it (transfers in batches, withdrawals, a declined withdrawal giving
its amount back, the previous release's ``okane_transfers_v2``), and ``okane ledger check``
holds every counter to the transactions of its day."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.errors import DailyLimitExceeded
from okane_core.ledger import transfers, withdrawals
from okane_core.ledger.book import LIMIT_TIMEZONE, Ledger
from okane_core.settings import Settings
from tests.factories import fund, make_user
from tests.libs.okane_core.ledger.test_service import assert_reconciled, bank, transfer

LIMIT = 1_000


@pytest.fixture
def limited(settings: Settings) -> Ledger:
    return Ledger(settings.model_copy(update={"daily_outgoing_limit": LIMIT}))


async def counter(sessions: SessionFactory, user_id: uuid.UUID) -> tuple[object, int]:
    async with sessions() as s:
        row = (
            await s.execute(
                text("SELECT out_day, out_spent FROM accounts WHERE user_id = :u"), {"u": user_id}
            )
        ).one()
    return row.out_day, int(row.out_spent)


async def today(sessions: SessionFactory) -> object:
    async with sessions() as s:
        return (
            await s.execute(text("SELECT (now() AT TIME ZONE :tz)::date"), {"tz": LIMIT_TIMEZONE})
        ).scalar_one()


async def pay(
    sessions: SessionFactory, ledger: Ledger, payer: uuid.UUID, payee: uuid.UUID, amount: int
) -> str:
    view, _ = await transfer(sessions, ledger, payer, str(payee), amount)
    return str(view.status)


async def withdraw(sessions: SessionFactory, ledger: Ledger, user: uuid.UUID, amount: int) -> str:
    view, _ = await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user, amount=amount, idempotency_key=uuid.uuid4().hex
        ),
    )
    assert view.reference is not None
    return view.reference


async def test_every_debit_path_keeps_the_counter(
    sessions: SessionFactory, limited: Ledger
) -> None:
    asha = await make_user(sessions, limited)
    ravi = await make_user(sessions, limited)
    await fund(sessions, limited, asha.id, 5_000)
    assert await counter(sessions, asha.id) == (None, 0)

    assert await pay(sessions, limited, asha.id, ravi.id, 300) == "success"
    declined = await withdraw(sessions, limited, asha.id, 400)
    assert await counter(sessions, asha.id) == (await today(sessions), 700)
    assert await counter(sessions, ravi.id) == (await today(sessions), 0)  # received, not sent
    await assert_reconciled(sessions)

    # A withdrawal the bank declines gives its amount back to the day.
    answer = await bank(sessions, limited, "withdrawal.failed", declined, 400)
    assert answer.outcome == "applied"
    assert await counter(sessions, asha.id) == (await today(sessions), 300)
    await assert_reconciled(sessions)

    # Not enough money is recorded but sends nothing.
    broke = await make_user(sessions, limited)
    assert await pay(sessions, limited, broke.id, ravi.id, 500) == "failure"
    assert await counter(sessions, broke.id) == (await today(sessions), 0)

    with pytest.raises(DailyLimitExceeded, match="700 paise left"):
        await pay(sessions, limited, asha.id, ravi.id, 701)
    assert await pay(sessions, limited, asha.id, ravi.id, 700) == "success"
    with pytest.raises(DailyLimitExceeded, match="0 paise left"):
        await withdraw(sessions, limited, asha.id, 1)
    await assert_reconciled(sessions)


async def test_the_previous_releases_function_keeps_the_counter(
    sessions: SessionFactory, limited: Ledger
) -> None:
    """Pods of the previous release call okane_transfers_v2 during a rolling upgrade."""
    asha = await make_user(sessions, limited)
    ravi = await make_user(sessions, limited)
    await fund(sessions, limited, asha.id, 5_000)
    assert await pay(sessions, limited, asha.id, ravi.id, 250) == "success"
    request = transfers.prepare(
        limited, user_id=asha.id, to=str(ravi.id), amount=150, note=None, idempotency_key="old"
    )
    params = transfers.batch_parameters(limited, [request])
    async with sessions() as s, s.begin():
        row = (
            await s.execute(
                text(
                    "SELECT code, status FROM okane_transfers_v2(CAST(:payer AS uuid[]), "
                    "CAST(:session AS uuid[]), CAST(:key AS text[]), CAST(:hash AS bytea[]), "
                    "CAST(:by AS text[]), CAST(:ref AS text[]), CAST(:amount AS bigint[]), "
                    "CAST(:note AS text[]), CAST(:txn AS uuid[]), CAST(:daily_limit AS bigint), "
                    "CAST(:key_ttl AS integer), CAST(:timezone AS text), "
                    "CAST(:new_payees AS integer), CAST(:new_payee_window AS integer), "
                    "CAST(:verified_only AS boolean))"
                ),
                {k: v for k, v in params.items() if not k.startswith("confirmed")},
            )
        ).one()
    assert (row.code, row.status) == (None, "success")
    assert await counter(sessions, asha.id) == (await today(sessions), 400)
    await assert_reconciled(sessions)
    with pytest.raises(DailyLimitExceeded, match="600 paise left"):
        await pay(sessions, limited, asha.id, ravi.id, 601)


async def test_a_transfer_begun_before_a_counted_midnight_sums_its_own_day(
    sessions: SessionFactory, limited: Ledger
) -> None:
    """A transaction whose day is older than the one already counted (it began before
    midnight and met the lock after a transfer of the new day) leaves the counter alone and
    checks its limit over history, as before counters."""
    asha = await make_user(sessions, limited)
    ravi = await make_user(sessions, limited)
    await fund(sessions, limited, asha.id, 5_000)
    assert await pay(sessions, limited, asha.id, ravi.id, 600) == "success"
    async with sessions() as s, s.begin():
        await s.execute(
            text("UPDATE accounts SET out_day = out_day + 1, out_spent = 0 WHERE user_id = :u"),
            {"u": asha.id},
        )
    tomorrow = await counter(sessions, asha.id)
    with pytest.raises(DailyLimitExceeded, match="400 paise left"):
        await pay(sessions, limited, asha.id, ravi.id, 401)
    assert await pay(sessions, limited, asha.id, ravi.id, 400) == "success"
    assert await counter(sessions, asha.id) == tomorrow
    await assert_reconciled(sessions)
