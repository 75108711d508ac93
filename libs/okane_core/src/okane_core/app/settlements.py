"""Use cases of the bank's side: apply a signed callback exactly once (``ledger.bank``), and
list what waits for the bank (the simulator and ``okane bank list``)."""

from __future__ import annotations

from okane_core.app.context import Okane
from okane_core.db.uow import UnitOfWork
from okane_core.ledger.bank import BankEventResult, apply_bank_event
from okane_core.ledger.repository import transactions
from okane_core.ledger.repository.transactions import BankPayment


async def apply_callback(
    okane: Okane, *, event_id: str, event_type: str, reference: str, amount: int
) -> BankEventResult:
    return await okane.uow.write(
        lambda s: apply_bank_event(
            s, event_id=event_id, event_type=event_type, reference=reference, amount=amount
        )
    )


async def waiting_payments(uow: UnitOfWork, *, limit: int) -> list[BankPayment]:
    """Top-ups and withdrawals waiting for the bank, oldest deadline first."""
    return await uow.read(lambda s: transactions.waiting_payments(s, limit=limit))


async def payment(uow: UnitOfWork, reference: str) -> BankPayment | None:
    """The top-up or withdrawal with this bank reference, whatever its status."""
    return await uow.read(lambda s: transactions.payment(s, reference))


async def pending_summary(uow: UnitOfWork) -> dict[str, tuple[int, int]]:
    return await uow.read(transactions.pending_summary)
