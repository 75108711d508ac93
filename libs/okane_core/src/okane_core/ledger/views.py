"""What the ledger returns: plain, immutable values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    kind: str
    user_id: uuid.UUID | None
    code: str | None
    currency: str
    available: int
    locked: int
    version: int


@dataclass(frozen=True, slots=True)
class Wallet:
    account_id: int
    user_id: uuid.UUID
    currency: str
    available: int
    locked: int
    version: int


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A transaction as one of its parties sees it. ``direction`` is ``debit`` when money leaves
    the viewer's wallet, ``credit`` when it arrives (``None`` for a system view)."""

    id: uuid.UUID
    kind: str
    status: str
    failure_reason: str | None
    amount: int
    currency: str
    debit_account_id: int
    credit_account_id: int
    initiator_id: uuid.UUID | None
    reference: str | None
    note: str | None
    reverses_id: uuid.UUID | None
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    trace_parent: str | None = None
    direction: str | None = None
    counterparty_id: uuid.UUID | None = None
    counterparty_name: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    data: list[TransactionView]
    has_more: bool


@dataclass(frozen=True, slots=True)
class AdminRequestView:
    """A manual money movement one admin asked for; it happens when a second admin approves."""

    id: uuid.UUID
    action: str
    transaction_id: uuid.UUID
    note: str | None
    requested_by: uuid.UUID
    requested_at: datetime
    status: str
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    result_id: uuid.UUID | None
