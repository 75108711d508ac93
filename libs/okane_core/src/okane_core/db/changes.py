"""What a unit of work changed, collected as it runs and handed to the commit hook.

Repositories record each wallet whose row changed (with its new version and balance), each
profile, and each transaction written. After the commit, the services invalidate the cache
entries of exactly those users and publish their live events. Nothing is recorded for a unit
of work that rolls back: its session (and this record) is discarded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

INFO_KEY = "okane.changes"


@dataclass(frozen=True, slots=True)
class WalletChange:
    user_id: uuid.UUID
    account_id: int
    version: int
    available: int
    locked: int
    currency: str


@dataclass(frozen=True, slots=True)
class TransactionChange:
    id: uuid.UUID
    kind: str
    status: str
    amount: int
    debit_account_id: int
    credit_account_id: int
    failure_reason: str | None = None
    settlement_lag: float | None = None  # seconds from start to the bank's answer


@dataclass(slots=True)
class Changes:
    wallets: dict[uuid.UUID, WalletChange] = field(default_factory=dict)
    profiles: dict[uuid.UUID, int] = field(default_factory=dict)
    transactions: dict[uuid.UUID, TransactionChange] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.wallets or self.profiles or self.transactions)

    def transactions_of(self, account_id: int) -> list[TransactionChange]:
        return [
            t
            for t in self.transactions.values()
            if account_id in {t.debit_account_id, t.credit_account_id}
        ]


def changes_of(info: dict[str, Any]) -> Changes:
    """The change record of a session (``session.info``), created on first use."""
    changes = info.get(INFO_KEY)
    if changes is None:
        changes = info[INFO_KEY] = Changes()
    assert isinstance(changes, Changes)
    return changes
