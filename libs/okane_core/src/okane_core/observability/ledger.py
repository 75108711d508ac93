"""Ledger metrics from what a unit of work committed."""

from __future__ import annotations

from okane_core.db.changes import Changes
from okane_core.observability import metrics


def record_committed(changes: Changes) -> None:
    for change in changes.transactions.values():
        metrics.TRANSACTIONS.labels(change.kind, change.status, change.failure_reason or "").inc()
        if change.status == "success":
            metrics.MONEY_MOVED.labels(change.kind).inc(change.amount)
        if change.settlement_lag is not None:
            metrics.SETTLEMENT_LAG.labels(change.kind).observe(change.settlement_lag)
