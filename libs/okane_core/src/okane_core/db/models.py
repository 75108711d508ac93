"""The schema, as SQLAlchemy 2 models. Alembic migrations in ``migrations/`` create it; a test
checks that the two agree."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KINDS = "('topup', 'p2p', 'withdrawal', 'reversal')"
STATUSES = "('processing', 'unknown', 'success', 'failure')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        int: BigInteger,
        datetime: DateTime(timezone=True),
        uuid.UUID: Uuid,
        dict[str, Any]: JSONB,
    }


def _now() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="reachable"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    google_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, server_default=false())
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    phone_verified_at: Mapped[datetime | None]
    email_verified_at: Mapped[datetime | None]


class Account(Base):
    """A wallet (one per user) or a system account. System accounts may go negative: the bank
    clearing account mirrors money that entered OKANE from outside."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('wallet', 'system')", name="kind"),
        CheckConstraint(
            "(kind = 'wallet') = (user_id IS NOT NULL) AND (kind = 'system') = (code IS NOT NULL)",
            name="owner",
        ),
        CheckConstraint("kind = 'system' OR available >= 0", name="available_not_negative"),
        CheckConstraint("locked >= 0", name="locked_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint("out_spent >= 0", name="out_spent_not_negative"),
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), unique=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    available: Mapped[int] = mapped_column(server_default=text("0"))
    locked: Mapped[int] = mapped_column(server_default=text("0"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    # What the account sent (P2P and withdrawals not failed) on out_day, in the limits' time
    # zone: the daily limit's counter, kept under the account lock (migration 0012).
    out_day: Mapped[date | None]
    out_spent: Mapped[int] = mapped_column(server_default=text("0"))


class LedgerTransaction(Base):
    """One movement of money (or an attempt at one). Money leaves ``debit_account_id`` and
    arrives at ``credit_account_id``; only a successful transaction has postings."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_parties"),
        CheckConstraint(
            "(status = 'failure') = (failure_reason IS NOT NULL)", name="failure_has_reason"
        ),
        CheckConstraint("(kind = 'reversal') = (reverses_id IS NOT NULL)", name="reversal_link"),
        Index("ix_transactions_debit_account_id_id", "debit_account_id", text("id DESC")),
        Index("ix_transactions_credit_account_id_id", "credit_account_id", text("id DESC")),
        Index(
            "ix_transactions_processing_expires_at",
            "expires_at",
            postgresql_where=text("status = 'processing'"),
        ),
        Index(
            "ix_transactions_unknown_updated_at",
            "updated_at",
            postgresql_where=text("status = 'unknown'"),
        ),
        Index(
            "ix_transactions_daily_outgoing",
            "debit_account_id",
            "created_at",
            postgresql_include=["amount"],
            postgresql_where=text("kind IN ('p2p', 'withdrawal') AND status <> 'failure'"),
        ),
        Index(
            "ix_transactions_daily_topup",
            "credit_account_id",
            "created_at",
            postgresql_include=["amount"],
            postgresql_where=text("kind = 'topup' AND status <> 'failure'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    initiator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(String(140))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transactions.id"), unique=True
    )
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    settled_at: Mapped[datetime | None]
    # W3C traceparent of the request that started it: a bank callback's trace links to it.
    trace_parent: Mapped[str | None] = mapped_column(String(55))


class LedgerPosting(Base):
    """Append-only: a trigger refuses UPDATE and DELETE, and a deferred constraint trigger refuses
    a commit whose transaction's postings do not sum to zero."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_postings_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = _now()


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and the transaction it produced, kept for a day."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    # Claimed with the id of the transaction the request is about to create: checked at commit.
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"), unique=True
    )
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebhookEvent(Base):
    """Each bank callback, by the bank's event id, with the answer it got: a redelivery gets the
    same answer and no second effect."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"))
    outcome: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = _now()


class Contact(Base):
    """Someone this user paid or was paid by; kept on each successful transfer so the list is a
    single index scan (never a directory of all users)."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("owner_id <> contact_id", name="not_self"),
        Index("ix_contacts_owner_id_last_paid_at", "owner_id", text("last_paid_at DESC")),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_paid_at: Mapped[datetime]
    payments: Mapped[int] = mapped_column(server_default=text("0"))
    # What the owner typed to pay them (a phone or email; migration 0010): all a contact shows.
    paid_as: Mapped[str | None] = mapped_column(Text)


class AuthSession(Base):
    """A login: the hash of its current refresh token (rotated on every use) and of the previous
    one, so a replayed old token is detected and ends the session."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    refresh_token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    previous_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    refreshed_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_auth_sessions_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )


class CacheOutbox(Base):
    """An invalidation Redis has not confirmed yet: written by triggers on ``accounts`` and
    ``users`` in the transaction of each change (migration 0006), deleted once drained."""

    __tablename__ = "cache_outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('wallet', 'profile')", name="kind"),
        Index("ix_cache_outbox_user_id_kind_version", "user_id", "kind", "version"),
    )

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    created_at: Mapped[datetime] = _now()


class LedgerCheck(Base):
    """One run of the ledger reconciliation and what it found (migration 0011)."""

    __tablename__ = "ledger_checks"
    __table_args__ = (CheckConstraint("violations >= 0 AND checks >= 0", name="counts"),)

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    violations: Mapped[int] = mapped_column(Integer)
    checks: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]]


class RateLimit(Base):
    """One fixed-window counter (``<scope>:<subject>``)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    window_ends: Mapped[datetime] = mapped_column(index=True)


class BankSimulatorDecision(Base):
    """What the simulated bank decided for a payment (development only): it answers status
    inquiries from this, whether or not its callback arrived."""

    __tablename__ = "bank_simulator_decisions"
    __table_args__ = (CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome"),)

    reference: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = _now()


class AdminRequest(Base):
    """A manual money movement one admin asked for and a second admin decides (migration
    0008): the reversal happens only on approval, by someone other than the requester."""

    __tablename__ = "admin_requests"
    __table_args__ = (
        CheckConstraint("action IN ('reversal')", name="action"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="second_admin"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
        Index(
            "uq_admin_requests_pending",
            "action",
            "transaction_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(Text)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"))
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    result_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"))


class AuditEntry(Base):
    """One admin act, append-only (a trigger refuses UPDATE, DELETE and TRUNCATE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    at: Mapped[datetime] = _now()
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class OneTimeCode(Base):
    """A code sent to a phone or email (migration 0009): it proves the address (``verify``),
    lets its owner set a new password (``password_reset``) or sign in from a new address
    while the account is under attack (``step_up``). Stored as a hash; tried a bounded
    number of times; used once."""

    __tablename__ = "one_time_codes"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify', 'password_reset', 'step_up')", name="purpose"),
        CheckConstraint("channel IN ('phone', 'email')", name="channel"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    used_at: Mapped[datetime | None]


class Notification(Base):
    """A message to a phone or email, written in the transaction that has it to say (the
    outbox), delivered afterwards by the configured sender."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('phone', 'email')", name="channel"),
        Index("ix_notifications_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class SignupRequest(Base):
    """A sign-up waiting for the code sent to its phone (migration 0009): the account is
    created when the code comes back, so a phone or email nobody proved is never taken, and
    a sign-up with someone else's answers exactly like one with a free phone."""

    __tablename__ = "signup_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text, index=True)
    email: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    used_at: Mapped[datetime | None]
