"""All SQL of the ledger.

Hot-path statements are written out as SQL: each is one round trip, and ``bench/`` runs the same
statements under pgbench as the baseline for the HTTP path.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import TransactionChange, WalletChange, changes_of
from okane_core.db.sql import sql
from okane_core.ledger.domain import BalanceChange, Posting
from okane_core.ledger.views import AccountRow, HistoryPage, TransactionView, Wallet

_TXN_COLUMNS = (
    "t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency, t.debit_account_id, "
    "t.credit_account_id, t.initiator_id, t.reference, t.note, t.reverses_id, t.expires_at, "
    "t.created_at, t.updated_at, t.settled_at, t.trace_parent"
)
_BASE = 17  # columns of _TXN_COLUMNS; a viewer's query adds the counterparty's id and name


_DEBIT = [f.name for f in dataclasses.fields(TransactionView)].index("debit_account_id")


def _view(row: Any, viewer_account_id: int | None = None) -> TransactionView:
    values = tuple(row)
    if viewer_account_id is None:
        return TransactionView(*values[:_BASE])
    direction = "debit" if values[_DEBIT] == viewer_account_id else "credit"
    # Positionally: the base columns, then direction, counterparty id and name (one dataclass
    # construction per row; this runs for every row cache warming reads).
    viewed: tuple[Any, ...] = (*values[:_BASE], direction, values[_BASE], values[_BASE + 1])
    return TransactionView(*viewed)


# --- accounts ---------------------------------------------------------------------------------


async def insert_account(
    session: AsyncSession, *, kind: str, currency: str, user_id: uuid.UUID | None, code: str | None
) -> int:
    result = await session.execute(
        sql(
            "INSERT INTO accounts (kind, user_id, code, currency) "
            "VALUES (:kind, :user_id, :code, :currency) RETURNING id"
        ),
        {"kind": kind, "user_id": user_id, "code": code, "currency": currency},
    )
    return int(result.scalar_one())


async def system_account_id(session: AsyncSession, code: str) -> int | None:
    result = await session.execute(
        sql("SELECT id FROM accounts WHERE code = :code"), {"code": code}
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def wallet_of(session: AsyncSession, user_id: uuid.UUID) -> Wallet | None:
    row = (
        await session.execute(
            sql(
                "SELECT id, user_id, currency, available, locked, version "
                "FROM accounts WHERE user_id = :user_id"
            ),
            {"user_id": user_id},
        )
    ).one_or_none()
    return None if row is None else Wallet(*row)


async def account(session: AsyncSession, account_id: int) -> AccountRow | None:
    row = (
        await session.execute(
            sql(
                "SELECT id, kind, user_id, code, currency, available, locked, version "
                "FROM accounts WHERE id = :id"
            ),
            {"id": account_id},
        )
    ).one_or_none()
    return None if row is None else AccountRow(*row)


async def apply_balance_changes(session: AsyncSession, changes: Sequence[BalanceChange]) -> None:
    """Apply every delta in one statement; each touched row's version goes up by one."""
    merged: dict[int, list[int]] = {}
    for change in changes:
        deltas = merged.setdefault(change.account_id, [0, 0])
        deltas[0] += change.available
        deltas[1] += change.locked
    ids = sorted(merged)
    rows = await session.execute(
        sql(
            "UPDATE accounts a SET available = a.available + d.available, "
            "locked = a.locked + d.locked, version = a.version + 1, updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:available AS bigint[]), "
            "CAST(:locked AS bigint[])) AS d(id, available, locked) WHERE a.id = d.id "
            "RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency"
        ),
        {
            "ids": ids,
            "available": [merged[i][0] for i in ids],
            "locked": [merged[i][1] for i in ids],
        },
    )
    wallets = changes_of(session.info).wallets
    for row in rows:
        if row.user_id is not None:
            wallets[row.user_id] = WalletChange(*row)


def _record(session: AsyncSession, view: TransactionView) -> TransactionView:
    lag = None
    if view.settled_at is not None and view.kind in {"topup", "withdrawal"}:
        lag = (view.settled_at - view.created_at).total_seconds()
    changes_of(session.info).transactions[view.id] = TransactionChange(
        view.id,
        view.kind,
        view.status,
        view.amount,
        view.debit_account_id,
        view.credit_account_id,
        view.failure_reason,
        lag if view.status != "processing" and lag is not None and lag > 0 else None,
    )
    return view


# --- transactions -----------------------------------------------------------------------------


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
                f"RETURNING {_TXN_COLUMNS}"
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
                "final": status != "processing",
                "trace_parent": trace_parent,
            },
        )
    ).one()
    return _record(session, _view(row))


async def reversal_of(session: AsyncSession, transaction_id: uuid.UUID) -> uuid.UUID | None:
    result = await session.execute(
        sql("SELECT id FROM transactions WHERE reverses_id = :id"), {"id": transaction_id}
    )
    value = result.scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))


async def database_now(session: AsyncSession) -> datetime:
    return (await session.execute(sql("SELECT now()"))).scalar_one()  # type: ignore[no-any-return]


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


@dataclass(frozen=True, slots=True)
class Party:
    user_id: uuid.UUID
    name: str
    account_id: int


async def transfer_parties(
    session: AsyncSession, sender: uuid.UUID, by: str, value: str | uuid.UUID
) -> tuple[Party | None, Party | None]:
    """The sender's and the recipient's (found by id, phone or email) wallets, in one query."""
    column = {"id": "u.id", "phone": "u.phone", "email": "u.email"}[by]
    rows = await session.execute(
        sql(
            "SELECT u.id, u.name, a.id AS account_id, u.id = :sender AS is_sender, "
            f"{column} = :value AS is_recipient FROM users u "
            "JOIN accounts a ON a.user_id = u.id WHERE u.id = :sender OR "
            f"{column} = :value"
        ),
        {"sender": sender, "value": value},
    )
    sender_party = recipient_party = None
    for row in rows:
        party = Party(row.id, row.name, int(row.account_id))
        if row.is_sender:
            sender_party = party
        if row.is_recipient:
            recipient_party = party
    return sender_party, recipient_party


async def post_transfer(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    debit: Party,
    credit: Party,
    amount: int,
    currency: str,
    note: str | None,
) -> TransactionView:
    """A successful P2P transfer in one round trip: the transaction, its two postings, both
    balances and both contacts, as data-modifying CTEs of a single statement. The caller holds
    the locks on both accounts."""
    row = (
        await session.execute(
            sql(
                "WITH t AS (INSERT INTO transactions AS t (id, kind, status, amount, currency, "
                "debit_account_id, credit_account_id, initiator_id, note, settled_at) "
                "VALUES (:id, 'p2p', 'success', :amount, :currency, :debit, :credit, :payer, "
                f":note, now()) RETURNING {_TXN_COLUMNS}), "
                "p AS (INSERT INTO postings (transaction_id, account_id, amount, currency) "
                "VALUES (:id, :debit, -CAST(:amount AS bigint), :currency), "
                "(:id, :credit, :amount, :currency)), "
                "b AS (UPDATE accounts a SET available = a.available + CASE WHEN a.id = :debit "
                "THEN -CAST(:amount AS bigint) ELSE :amount END, version = a.version + 1, "
                "updated_at = now() WHERE a.id IN (:debit, :credit) "
                "RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency), "
                "c AS (INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments) "
                "SELECT o, k, now(), 1 FROM (VALUES (CAST(:payer AS uuid), CAST(:payee AS uuid)), "
                "(CAST(:payee AS uuid), CAST(:payer AS uuid))) AS pair(o, k) ORDER BY o, k "
                "ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(), "
                "payments = c.payments + 1) "
                "SELECT t.*, (SELECT json_agg(b) FROM b) AS wallets FROM t"
            ),
            {
                "id": id,
                "amount": amount,
                "currency": currency,
                "debit": debit.account_id,
                "credit": credit.account_id,
                "payer": debit.user_id,
                "payee": credit.user_id,
                "note": note,
            },
        )
    ).one()
    values = tuple(row)
    view = _record(session, TransactionView(*values[:_BASE]))
    wallets = changes_of(session.info).wallets
    for wallet in values[_BASE]:
        wallets[uuid.UUID(wallet["user_id"])] = WalletChange(
            uuid.UUID(wallet["user_id"]),
            int(wallet["id"]),
            int(wallet["version"]),
            int(wallet["available"]),
            int(wallet["locked"]),
            wallet["currency"],
        )
    return view


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
            sql(f"SELECT {_TXN_COLUMNS} FROM transactions t WHERE {where} FOR NO KEY UPDATE"),
            {"v": value},
        )
    ).one_or_none()
    return None if row is None else _view(row)


async def lock_expired(session: AsyncSession, limit: int) -> list[TransactionView]:
    """Pending transactions past their deadline, locked; rows another worker holds are skipped."""
    rows = await session.execute(
        sql(
            f"SELECT {_TXN_COLUMNS} FROM transactions t "
            "WHERE t.status = 'processing' AND t.expires_at < now() "
            "ORDER BY t.expires_at LIMIT :limit FOR NO KEY UPDATE SKIP LOCKED"
        ),
        {"limit": limit},
    )
    return [_view(row) for row in rows]


async def finish_transaction(
    session: AsyncSession, transaction_id: uuid.UUID, *, status: str, failure_reason: str | None
) -> TransactionView:
    row = (
        await session.execute(
            sql(
                "UPDATE transactions AS t SET status = :status, failure_reason = :reason, "
                "updated_at = now(), settled_at = now() WHERE t.id = :id "
                f"RETURNING {_TXN_COLUMNS}"
            ),
            {"id": transaction_id, "status": status, "reason": failure_reason},
        )
    ).one()
    return _record(session, _view(row))


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


# --- reads for one user -----------------------------------------------------------------------

# A user sees every transaction that debits their wallet, and every one that credits it except
# a failed transfer (money that never arrived is the sender's business, not the recipient's).
_VISIBLE_CREDIT = "NOT (t.kind = 'p2p' AND t.status = 'failure')"


def _counterparty(account: str) -> str:
    """Join the other party's user (if any) of a transaction seen from ``account``."""
    return (
        f"LEFT JOIN accounts ca ON ca.id = CASE WHEN t.debit_account_id = {account} "
        "THEN t.credit_account_id ELSE t.debit_account_id END "
        "LEFT JOIN users cu ON cu.id = ca.user_id"
    )


def _history_sql(account: str, filters: str) -> str:
    """Newest-first page of one account's transactions: two index range scans (debit side,
    credit side) that each stop after ``:n`` rows, merged."""
    return (
        f"SELECT {_TXN_COLUMNS}, cu.id, cu.name FROM ("
        f"(SELECT * FROM transactions t WHERE t.debit_account_id = {account}{filters} "
        "ORDER BY t.id DESC LIMIT :n) UNION ALL "
        f"(SELECT * FROM transactions t WHERE t.credit_account_id = {account} "
        f"AND {_VISIBLE_CREDIT}{filters} ORDER BY t.id DESC LIMIT :n)) t "
        f"{_counterparty(account)} ORDER BY t.id DESC LIMIT :n"
    )


async def transaction_for_account(
    session: AsyncSession, account_id: int, transaction_id: uuid.UUID
) -> TransactionView | None:
    row = (
        await session.execute(
            sql(
                f"SELECT {_TXN_COLUMNS}, cu.id, cu.name FROM transactions t "
                f"{_counterparty(':acct')} "
                "WHERE t.id = :id AND (t.debit_account_id = :acct "
                f"OR (t.credit_account_id = :acct AND {_VISIBLE_CREDIT}))"
            ),
            {"id": transaction_id, "acct": account_id},
        )
    ).one_or_none()
    return None if row is None else _view(row, account_id)


async def history(
    session: AsyncSession,
    account_id: int,
    *,
    limit: int,
    before: uuid.UUID | None,
    kind: str | None,
    status: str | None,
) -> HistoryPage:
    """Newest first, keyset-paginated on the time-ordered id. The cost depends on the page
    size, not on how many transactions the ledger holds."""
    filters = ""
    params: dict[str, Any] = {"acct": account_id, "n": limit + 1}
    if before is not None:
        filters += " AND t.id < :before"
        params["before"] = before
    if kind is not None:
        filters += " AND t.kind = :kind"
        params["kind"] = kind
    if status is not None:
        filters += " AND t.status = :status"
        params["status"] = status
    rows = (await session.execute(sql(_history_sql(":acct", filters)), params)).all()
    views = [_view(row, account_id) for row in rows]
    return HistoryPage(data=views[:limit], has_more=len(views) > limit)


async def history_for_accounts(
    session: AsyncSession, owners: dict[int, uuid.UUID], *, limit: int
) -> dict[uuid.UUID, HistoryPage]:
    """The first history page of many accounts in one statement (for cache warming)."""
    rows = await session.execute(
        sql(
            f"SELECT a.acct, h.* FROM unnest(CAST(:accounts AS bigint[])) AS a(acct) "
            f"CROSS JOIN LATERAL ({_history_sql('a.acct', '')}) h"
        ),
        {"accounts": list(owners), "n": limit + 1},
    )
    views: dict[int, list[TransactionView]] = {account: [] for account in owners}
    for row in rows:
        account = int(row[0])
        views[account].append(_view(row[1:], account))
    return {
        owners[account]: HistoryPage(data=found[:limit], has_more=len(found) > limit)
        for account, found in views.items()
    }


# --- idempotency ------------------------------------------------------------------------------


async def claim_idempotency_key(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str,
    operation: str,
    request_hash: bytes,
    ttl_seconds: int,
    transaction_id: uuid.UUID,
) -> tuple[bool, str, bytes, uuid.UUID | None]:
    """Claim ``key`` for this request, or find who holds it.

    Returns ``(claimed, operation, request_hash, transaction_id)``. A concurrent request with the
    same key waits on the unique index until the first one commits (then sees its result) or
    rolls back (then claims the key itself). An expired key is taken over.

    The claim names the transaction the request is about to create (``transaction_id``); the
    foreign key is checked at commit, when that transaction exists.
    """
    params = {
        "user_id": user_id,
        "key": key,
        "operation": operation,
        "hash": request_hash,
        "ttl": ttl_seconds,
        "txn": transaction_id,
    }
    claimed = (
        await session.execute(
            sql(
                "INSERT INTO idempotency_keys (user_id, key, operation, request_hash, "
                "transaction_id, expires_at) VALUES (:user_id, :key, :operation, :hash, :txn, "
                "now() + make_interval(secs => :ttl)) "
                "ON CONFLICT (user_id, key) DO UPDATE SET operation = EXCLUDED.operation, "
                "request_hash = EXCLUDED.request_hash, transaction_id = EXCLUDED.transaction_id, "
                "created_at = now(), expires_at = EXCLUDED.expires_at "
                "WHERE idempotency_keys.expires_at <= now() RETURNING 1"
            ),
            params,
        )
    ).scalar_one_or_none()
    if claimed is not None:
        return True, operation, request_hash, transaction_id
    row = (
        await session.execute(
            sql(
                "SELECT operation, request_hash, transaction_id FROM idempotency_keys "
                "WHERE user_id = :user_id AND key = :key"
            ),
            params,
        )
    ).one()
    return False, row.operation, bytes(row.request_hash), row.transaction_id


async def delete_expired_idempotency_keys(session: AsyncSession, *, limit: int) -> int:
    result = await session.execute(
        sql(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
            "WHERE expires_at <= now() LIMIT :limit))"
        ),
        {"limit": limit},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- bank events ------------------------------------------------------------------------------


async def claim_webhook_event(
    session: AsyncSession, *, event_id: str, event_type: str, reference: str | None
) -> dict[str, Any] | None:
    """Insert the event id; ``None`` when this delivery is the first, else the stored answer.

    A concurrent delivery of the same id waits on the primary key until the first commits.
    """
    inserted = (
        await session.execute(
            sql(
                "INSERT INTO webhook_events (id, type, reference, outcome, response) "
                "VALUES (:id, :type, :reference, 'pending', '{}'::jsonb) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1"
            ),
            {"id": event_id, "type": event_type, "reference": reference},
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return None
    stored = (
        await session.execute(
            sql("SELECT response FROM webhook_events WHERE id = :id"), {"id": event_id}
        )
    ).scalar_one()
    return dict(stored)


async def record_webhook_outcome(
    session: AsyncSession,
    *,
    event_id: str,
    outcome: str,
    transaction_id: uuid.UUID | None,
    response: dict[str, Any],
) -> None:
    await session.execute(
        sql(
            "UPDATE webhook_events SET outcome = :outcome, transaction_id = :txn, "
            "response = CAST(:response AS jsonb) WHERE id = :id"
        ),
        {
            "id": event_id,
            "outcome": outcome,
            "txn": transaction_id,
            "response": json.dumps(response),
        },
    )


async def pending_settlements(session: AsyncSession, *, limit: int) -> list[dict[str, Any]]:
    """Top-ups and withdrawals waiting for the bank, oldest first (for the bank simulator)."""
    rows = await session.execute(
        sql(
            "SELECT t.kind, t.reference, t.amount, t.created_at, t.expires_at, u.name, u.phone "
            "FROM transactions t JOIN accounts a ON a.id = CASE t.kind WHEN 'topup' "
            "THEN t.credit_account_id ELSE t.debit_account_id END "
            "JOIN users u ON u.id = a.user_id "
            "WHERE t.status = 'processing' ORDER BY t.expires_at LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [dict(row._mapping) for row in rows]


async def pending_summary(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """(count, paise) of processing top-ups and withdrawals (served by a partial index)."""
    rows = await session.execute(
        sql(
            "SELECT kind, count(*), coalesce(sum(amount), 0) FROM transactions "
            "WHERE status = 'processing' GROUP BY kind"
        )
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}
