"""SQL of transactions and their postings. Hot-path statements are written out as SQL: each is
one round trip, and ``bench/`` runs the same statements under pgbench as the baseline for the
HTTP path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.sql import sql
from okane_core.ledger.domain import Posting
from okane_core.ledger.repository.rows import TXN_COLUMNS, record, view_of
from okane_core.ledger.views import TransactionView


async def insert_transaction(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    kind: str,
    status: str,
    amount: int,
    currency: str,
    debit_account_id: int,
    credit_account_id: int,
    initiator_id: uuid.UUID | None,
    failure_reason: str | None = None,
    reference: str | None = None,
    note: str | None = None,
    reverses_id: uuid.UUID | None = None,
    expires_in_seconds: int | None = None,
    trace_parent: str | None = None,
) -> TransactionView:
    """Insert a transaction. Final ones are settled now; pending ones expire after
    ``expires_in_seconds`` (database clock, so every replica agrees)."""
    row = (
        await session.execute(
            sql(
                "INSERT INTO transactions AS t (id, kind, status, failure_reason, amount, "
                "currency, debit_account_id, credit_account_id, initiator_id, reference, note, "
                "reverses_id, expires_at, settled_at, trace_parent) "
                "VALUES (:id, :kind, :status, :failure_reason, :amount, :currency, :debit, "
                ":credit, :initiator_id, :reference, :note, :reverses_id, "
                "now() + make_interval(secs => CAST(:ttl AS double precision)), "
                "CASE WHEN CAST(:final AS boolean) THEN now() END, :trace_parent) "
                f"RETURNING {TXN_COLUMNS}"
            ),
            {
                "id": id,
                "kind": kind,
                "status": status,
                "failure_reason": failure_reason,
                "amount": amount,
                "currency": currency,
                "debit": debit_account_id,
                "credit": credit_account_id,
                "initiator_id": initiator_id,
                "reference": reference,
                "note": note,
                "reverses_id": reverses_id,
                "ttl": expires_in_seconds,
                "final": status not in ("processing", "unknown"),
                "trace_parent": trace_parent,
            },
        )
    ).one()
    return record(session, view_of(row))


async def reversal_of(session: AsyncSession, transaction_id: uuid.UUID) -> uuid.UUID | None:
    result = await session.execute(
        sql("SELECT id FROM transactions WHERE reverses_id = :id"), {"id": transaction_id}
    )
    value = result.scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))


async def insert_postings(
    session: AsyncSession, transaction_id: uuid.UUID, currency: str, postings: Sequence[Posting]
) -> None:
    await session.execute(
        sql(
            "INSERT INTO postings (transaction_id, account_id, amount, currency) "
            "SELECT :txn, p.account_id, p.amount, :currency "
            "FROM unnest(CAST(:accounts AS bigint[]), CAST(:amounts AS bigint[])) "
            "AS p(account_id, amount)"
        ),
        {
            "txn": transaction_id,
            "currency": currency,
            "accounts": [p.account_id for p in postings],
            "amounts": [p.amount for p in postings],
        },
    )


async def postings_of(session: AsyncSession, transaction_id: uuid.UUID) -> list[Posting]:
    rows = await session.execute(
        sql("SELECT account_id, amount FROM postings WHERE transaction_id = :id ORDER BY id"),
        {"id": transaction_id},
    )
    return [Posting(int(r.account_id), int(r.amount)) for r in rows]


async def lock_transaction(
    session: AsyncSession, *, transaction_id: uuid.UUID | None = None, reference: str | None = None
) -> TransactionView | None:
    """Lock one transaction row (by id or by bank reference) before settling it."""
    where, value = (
        ("t.id = :v", transaction_id) if reference is None else ("t.reference = :v", reference)
    )
    row = (
        await session.execute(
            sql(f"SELECT {TXN_COLUMNS} FROM transactions t WHERE {where} FOR NO KEY UPDATE"),
            {"v": value},
        )
    ).one_or_none()
    return None if row is None else view_of(row)


async def lock_expired(session: AsyncSession, limit: int) -> list[TransactionView]:
    """Pending transactions past their deadline, locked; rows another worker holds are skipped."""
    rows = await session.execute(
        sql(
            f"SELECT {TXN_COLUMNS} FROM transactions t "
            "WHERE t.status = 'processing' AND t.expires_at < now() "
            "ORDER BY t.expires_at LIMIT :limit FOR NO KEY UPDATE SKIP LOCKED"
        ),
        {"limit": limit},
    )
    return [view_of(row) for row in rows]


async def mark_unknown(session: AsyncSession, transaction_id: uuid.UUID) -> TransactionView:
    row = (
        await session.execute(
            sql(
                "UPDATE transactions AS t SET status = 'unknown', updated_at = now() "
                f"WHERE t.id = :id RETURNING {TXN_COLUMNS}"
            ),
            {"id": transaction_id},
        )
    ).one()
    return record(session, view_of(row))


async def unknown_payments(session: AsyncSession, *, limit: int) -> list[tuple[str, str, int]]:
    """(kind, reference, amount) of the top-ups and withdrawals waiting for the bank's word
    past their deadline, the longest-waiting first (least recently asked)."""
    rows = await session.execute(
        sql(
            "SELECT kind, reference, amount FROM transactions WHERE status = 'unknown' "
            "ORDER BY updated_at LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [(row[0], row[1], int(row[2])) for row in rows]


async def asked(session: AsyncSession, reference: str) -> None:
    """Note that the bank was asked about this one (it goes to the back of the queue)."""
    await session.execute(
        sql(
            "UPDATE transactions SET updated_at = now() "
            "WHERE reference = :reference AND status = 'unknown'"
        ),
        {"reference": reference},
    )


async def finish_transaction(
    session: AsyncSession, transaction_id: uuid.UUID, *, status: str, failure_reason: str | None
) -> TransactionView:
    row = (
        await session.execute(
            sql(
                "UPDATE transactions AS t SET status = :status, failure_reason = :reason, "
                "updated_at = now(), settled_at = now() WHERE t.id = :id "
                f"RETURNING {TXN_COLUMNS}"
            ),
            {"id": transaction_id, "status": status, "reason": failure_reason},
        )
    ).one()
    return record(session, view_of(row))


async def spent_today(session: AsyncSession, account_id: int, *, kinds: str, timezone: str) -> int:
    """Paise this account sent (``kinds='outgoing'``) or topped up (``'topup'``) since local
    midnight, counting pending and successful transactions. Served by a covering partial index."""
    if kinds == "outgoing":
        statement = (
            "SELECT coalesce(sum(amount), 0) FROM transactions WHERE debit_account_id = :a "
            "AND kind IN ('p2p', 'withdrawal') AND status <> 'failure' "
            "AND created_at >= date_trunc('day', now(), :tz)"
        )
    else:
        statement = (
            "SELECT coalesce(sum(amount), 0) FROM transactions WHERE credit_account_id = :a "
            "AND kind = 'topup' AND status <> 'failure' "
            "AND created_at >= date_trunc('day', now(), :tz)"
        )
    result = await session.execute(sql(statement), {"a": account_id, "tz": timezone})
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class BankPayment:
    """A top-up or withdrawal as the bank sees it: what to pay, to or from whom."""

    kind: str  # topup | withdrawal
    reference: str
    amount: int
    status: str
    created_at: datetime
    expires_at: datetime | None
    customer: str
    phone: str | None


_BANK_PAYMENTS = (
    "SELECT t.kind, t.reference, t.amount, t.status, t.created_at, t.expires_at, u.name, "
    "u.phone FROM transactions t JOIN accounts a ON a.id = CASE t.kind WHEN 'topup' "
    "THEN t.credit_account_id ELSE t.debit_account_id END JOIN users u ON u.id = a.user_id "
)


async def waiting_payments(session: AsyncSession, *, limit: int) -> list[BankPayment]:
    """Top-ups and withdrawals waiting for the bank, oldest deadline first."""
    rows = await session.execute(
        sql(
            _BANK_PAYMENTS + "WHERE t.status IN ('processing', 'unknown') "
            "AND t.kind IN ('topup', 'withdrawal') "
            "ORDER BY t.expires_at LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [BankPayment(*row) for row in rows]


async def payment(session: AsyncSession, reference: str) -> BankPayment | None:
    row = (
        await session.execute(
            sql(
                _BANK_PAYMENTS
                + "WHERE t.reference = :reference AND t.kind IN ('topup', 'withdrawal')"
            ),
            {"reference": reference},
        )
    ).one_or_none()
    return None if row is None else BankPayment(*row)


@dataclass(frozen=True)
class Pending:
    """Top-ups or withdrawals of one kind waiting for the bank."""

    count: int
    paise: int
    oldest_seconds: float  # how long the oldest has waited; 0 when none waits


async def pending_summary(session: AsyncSession) -> dict[str, Pending]:
    """Top-ups and withdrawals waiting for the bank (processing or unknown; served by partial
    indexes), by kind."""
    rows = await session.execute(
        sql(
            "SELECT kind, count(*), coalesce(sum(amount), 0), "
            "coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM transactions "
            "WHERE status IN ('processing', 'unknown') GROUP BY kind"
        )
    )
    return {row[0]: Pending(int(row[1]), int(row[2]), float(row[3])) for row in rows}
