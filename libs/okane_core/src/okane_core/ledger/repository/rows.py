"""What every ledger repository shares: the columns of a transaction and how a row becomes a
view, and the change record each write leaves for the commit hook."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import TransactionChange, changes_of
from okane_core.ledger.views import TransactionView

TXN_COLUMNS = (
    "t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency, t.debit_account_id, "
    "t.credit_account_id, t.initiator_id, t.reference, t.note, t.reverses_id, t.expires_at, "
    "t.created_at, t.updated_at, t.settled_at, t.trace_parent"
)
BASE = 17  # columns of TXN_COLUMNS; a viewer's query adds the counterparty's id and name


_DEBIT = [f.name for f in dataclasses.fields(TransactionView)].index("debit_account_id")


def view_of(row: Any, viewer_account_id: int | None = None) -> TransactionView:
    values = tuple(row)
    if viewer_account_id is None:
        return TransactionView(*values[:BASE])
    direction = "debit" if values[_DEBIT] == viewer_account_id else "credit"
    # Positionally: the base columns, then direction, counterparty id and name (one dataclass
    # construction per row; this runs for every row cache warming reads).
    viewed: tuple[Any, ...] = (*values[:BASE], direction, values[BASE], values[BASE + 1])
    return TransactionView(*viewed)


def record(session: AsyncSession, view: TransactionView) -> TransactionView:
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
        lag if view.status in ("success", "failure") and lag is not None and lag > 0 else None,
    )
    return view
