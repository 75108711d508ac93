"""SQL of the simulated bank: what it knows about a payment it is asked to confirm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SELECT = (
    "SELECT t.kind, t.reference, t.amount, t.status, t.expires_at, u.name FROM transactions t "
    "JOIN accounts a ON a.id = CASE t.kind WHEN 'topup' THEN t.credit_account_id "
    "ELSE t.debit_account_id END JOIN users u ON u.id = a.user_id "
)


@dataclass(frozen=True, slots=True)
class BankPayment:
    kind: str  # topup | withdrawal
    reference: str
    amount: int
    status: str
    expires_at: datetime | None
    customer: str


async def payment(session: AsyncSession, reference: str) -> BankPayment | None:
    row = (
        await session.execute(
            text(_SELECT + "WHERE t.reference = :reference AND t.kind IN ('topup', 'withdrawal')"),
            {"reference": reference},
        )
    ).one_or_none()
    return None if row is None else BankPayment(*row)


async def waiting(session: AsyncSession, *, limit: int) -> list[BankPayment]:
    """Payments waiting for the bank, oldest deadline first."""
    rows = await session.execute(
        text(
            _SELECT + "WHERE t.status = 'processing' AND t.kind IN ('topup', 'withdrawal') "
            "ORDER BY t.expires_at LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [BankPayment(*row) for row in rows]
