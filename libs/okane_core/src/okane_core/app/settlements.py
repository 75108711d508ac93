"""Use cases of the bank's side: apply a signed callback exactly once (``ledger.bank``), ask
the bank what became of payments past their deadline, list what waits for the bank (the
simulator and ``okane bank list``), and the simulated bank's own record of its decisions."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.db.uow import UnitOfWork
from okane_core.errors import AlreadySettled
from okane_core.ledger import settlement
from okane_core.ledger.bank import BankEventResult, apply_bank_event
from okane_core.ledger.domain import FailureReason, Kind
from okane_core.ledger.repository import bank_decisions, transactions
from okane_core.ledger.repository.transactions import BankPayment

log = logging.getLogger(__name__)

# What a bank's status inquiry answers: "succeeded" or "failed" (definite), "pending" (it has
# the payment and has not finished it), "not_found" (it never received it: definite failure).
Inquiry = Callable[[str, str], Awaitable[str]]  # (kind, reference) -> answer


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


async def pending_summary(uow: UnitOfWork) -> dict[str, transactions.Pending]:
    return await uow.read(transactions.pending_summary)


async def inquire_unknown(okane: Okane, ask: Inquiry, *, limit: int = 100) -> Counter[str]:
    """Ask the bank about up to ``limit`` payments in ``unknown`` and apply each definite
    answer (each in a unit of work of its own): only a definite failure releases a hold.
    Returns how many got each answer; an inquiry that fails is tried again next round."""
    answers: Counter[str] = Counter()
    waiting = await okane.uow.read(lambda s: transactions.unknown_payments(s, limit=limit))
    for kind, reference, amount in waiting:
        try:
            answer = await ask(kind, reference)
        except Exception as error:  # noqa: BLE001 - the bank is unreachable: ask again later
            log.warning("status inquiry for %s failed: %s", reference, error)
            answers["unreachable"] += 1
            continue
        answers[answer] += 1
        await _apply_answer(okane, Kind(kind), reference, amount, answer)
    return answers


async def _apply_answer(okane: Okane, kind: Kind, reference: str, amount: int, answer: str) -> None:
    if answer not in {"succeeded", "failed", "not_found"}:

        async def note(s: AsyncSession) -> None:
            await transactions.asked(s, reference)

        await okane.uow.write(note)
        return
    reason = FailureReason.BANK_DECLINED if answer == "failed" else FailureReason.EXPIRED

    async def apply(s: AsyncSession) -> None:
        await settlement.settle(
            s,
            reference=reference,
            kind=kind,
            success=answer == "succeeded",
            amount=amount,
            reason=reason,
        )

    with contextlib.suppress(AlreadySettled):  # its callback arrived meanwhile
        await okane.uow.write(apply)


async def record_decision(uow: UnitOfWork, reference: str, *, succeeded: bool) -> None:
    """The simulated bank notes what it decided, before it sends the callback."""
    await uow.write(lambda s: bank_decisions.record(s, reference, succeeded=succeeded))


async def bank_status(uow: UnitOfWork, reference: str) -> str:
    """The simulated bank's answer to a status inquiry about ``reference``."""
    decided = await uow.read(lambda s: bank_decisions.outcome(s, reference))
    if decided is not None:
        return decided
    known = await payment(uow, reference)
    return "pending" if known is not None else "not_found"
