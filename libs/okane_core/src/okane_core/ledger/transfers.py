"""P2P transfers: pay another user, found by user id, phone or email.

What a transfer may do is decided in the database, by ``okane_transfers_v3`` (migration 0012),
in one round trip for a whole batch: it locks every account of the batch once in id order,
decides each transfer in arrival order against the locked rows, and writes each wallet once.
The rules it applies are the pure ones of ``ledger.domain`` (``decide_transfer``,
``transfer_postings``); a differential test holds the function to them, and the database's
balance trigger is the net.

Insufficient funds is not an error: it is recorded as a ``failure`` transaction with reason
``insufficient_funds`` and moves nothing, so the payer sees it in the history. Every other
refusal writes nothing (the idempotency key stays free). A payee outside the payer's contacts
(or nobody) counts in the payer's ``payee-lookup`` window, over which the transfer is refused
before anything says whether the payee exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.changes import Changes, TransactionChange, WalletChange, changes_of
from okane_core.errors import (
    AuthenticationFailed,
    CurrencyMismatch,
    DailyLimitExceeded,
    IdempotencyConflict,
    InvalidRequest,
    OkaneError,
    RateLimited,
    RecipientNotFound,
    SelfTransfer,
    UserNotFound,
)
from okane_core.ids import new_id
from okane_core.ledger.book import LIMIT_TIMEZONE, MAX_NOTE_LENGTH, Ledger
from okane_core.ledger.domain import check_note, validate_amount
from okane_core.ledger.idempotency import request_hash
from okane_core.ledger.repository import transfers as repository
from okane_core.ledger.views import TransactionView
from okane_core.users.domain import parse_user_ref


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A validated transfer, ready for the database."""

    payer: uuid.UUID
    session_id: uuid.UUID | None  # checked live in the same round trip, when given
    key: str
    request_hash: bytes
    by: str
    ref: str
    amount: int
    note: str | None
    transaction_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    view: TransactionView | None
    replayed: bool
    error: OkaneError | None
    wallets: tuple[WalletChange, ...] = ()
    # A replay's original invalidations still pending: (user id, kind, version) each.
    pending: tuple[tuple[uuid.UUID, str, int], ...] = ()

    def result(self) -> tuple[TransactionView, bool]:
        """The transaction and whether it replays an earlier request; or raise the refusal."""
        if self.error is not None:
            raise self.error
        assert self.view is not None
        return self.view, self.replayed


def prepare(
    ledger: Ledger,
    *,
    user_id: uuid.UUID,
    to: str,
    amount: int,
    note: str | None,
    idempotency_key: str,
    session_id: uuid.UUID | None = None,
) -> TransferRequest:
    """Check what can be checked without the database, and fingerprint the request."""
    validate_amount(amount, maximum=ledger.settings.max_transaction_amount)
    check_note(note, maximum=MAX_NOTE_LENGTH)
    if not idempotency_key or len(idempotency_key) > 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    by, ref = parse_user_ref(to)
    fingerprint = request_hash("transfer", {"to": to.strip(), "amount": amount, "note": note})
    return TransferRequest(
        payer=user_id,
        session_id=session_id,
        key=idempotency_key,
        request_hash=fingerprint,
        by=by,
        ref=str(ref),
        amount=amount,
        note=note,
        transaction_id=new_id(),
    )


def batch_parameters(
    ledger: Ledger,
    requests: Sequence[TransferRequest],
    confirmed: Sequence[WalletChange] = (),
) -> dict[str, Any]:
    """The call's parameters; ``confirmed``: wallet versions whose invalidation Redis
    confirmed since the last call, whose outbox rows the call deletes."""
    return {
        "payer": [r.payer for r in requests],
        "session": [r.session_id for r in requests],
        "key": [r.key for r in requests],
        "hash": [r.request_hash for r in requests],
        "by": [r.by for r in requests],
        "ref": [r.ref for r in requests],
        "amount": [r.amount for r in requests],
        "note": [r.note for r in requests],
        "txn": [r.transaction_id for r in requests],
        "daily_limit": ledger.settings.daily_outgoing_limit,
        "key_ttl": ledger.settings.idempotency_ttl_seconds,
        "timezone": LIMIT_TIMEZONE,
        "new_payees": ledger.settings.payee_lookups_per_window or None,  # None: no limit
        "new_payee_window": ledger.settings.payee_lookup_window_seconds,
        "verified_only": ledger.settings.verify_contacts == "required",
        "confirmed_users": [w.user_id for w in confirmed],
        "confirmed_versions": [w.version for w in confirmed],
    }


def _refusal(ledger: Ledger, code: str, left_today: int | None) -> OkaneError:
    if code == RateLimited.code:  # left_today carries the seconds until the window ends
        return RateLimited(
            "too many payees you have not paid before; pay a contact, or wait",
            retry_after=left_today or 1,
        )
    if code == DailyLimitExceeded.code:
        limit = ledger.settings.daily_outgoing_limit
        return DailyLimitExceeded(
            f"this would exceed the daily limit of {limit} paise ({left_today or 0} paise "
            "left today)",
            field="amount",
        )
    refusals: dict[str, OkaneError] = {
        AuthenticationFailed.code: AuthenticationFailed("this session has ended; log in again"),
        IdempotencyConflict.code: IdempotencyConflict(
            "this Idempotency-Key was used for a different request", field="Idempotency-Key"
        ),
        RecipientNotFound.code: RecipientNotFound(
            "no OKANE user has this id, phone or email", field="to"
        ),
        SelfTransfer.code: SelfTransfer("you cannot pay yourself", field="to"),
        UserNotFound.code: UserNotFound("this user has no wallet"),
        CurrencyMismatch.code: CurrencyMismatch(
            "the two wallets hold different currencies", field="to"
        ),
    }
    return refusals[code]


_VIEW = slice(4, 21)  # the transaction's columns in an outcome row


def outcome_of(ledger: Ledger, row: Any) -> TransferOutcome:
    values = tuple(row)
    code, replayed, left_today = values[1], values[2], values[3]
    if code is not None:
        return TransferOutcome(None, replayed=False, error=_refusal(ledger, code, left_today))
    # Positionally: the transaction's columns, then the payer's view of it.
    viewed: tuple[Any, ...] = (*values[_VIEW], "debit", values[21], values[22])
    view = TransactionView(*viewed)
    wallets = values[23]
    if isinstance(wallets, str | bytes):
        wallets = orjson.loads(wallets)
    if replayed:
        pending = tuple(
            (uuid.UUID(str(p["user_id"])), str(p["kind"]), int(p["version"])) for p in wallets or ()
        )
        return TransferOutcome(view, replayed=True, error=None, pending=pending)
    changed = tuple(
        WalletChange(
            uuid.UUID(str(w["user_id"])),
            int(w["id"]),
            int(w["version"]),
            int(w["available"]),
            int(w["locked"]),
            str(w["currency"]),
        )
        for w in wallets or ()
        if w.get("user_id") is not None
    )
    return TransferOutcome(view, replayed=False, error=None, wallets=changed)


def record_changes(changes: Changes, outcomes: Iterable[TransferOutcome]) -> Changes:
    """What the commit hook must hear of: every wallet at its newest version, every new
    transaction (replays changed nothing)."""
    for outcome in outcomes:
        if outcome.view is None or outcome.replayed:
            continue
        for wallet in outcome.wallets:
            known = changes.wallets.get(wallet.user_id)
            if known is None or known.version < wallet.version:
                changes.wallets[wallet.user_id] = wallet
        view = outcome.view
        changes.transactions[view.id] = TransactionChange(
            view.id,
            view.kind,
            view.status,
            view.amount,
            view.debit_account_id,
            view.credit_account_id,
            view.failure_reason,
        )
    return changes


async def apply(
    ledger: Ledger, session: AsyncSession, requests: Sequence[TransferRequest]
) -> list[TransferOutcome]:
    """Apply transfers in the caller's unit of work (one round trip); the unit of work's
    commit hook hears of what they changed."""
    rows = await repository.run_in_session(session, batch_parameters(ledger, requests))
    outcomes = [outcome_of(ledger, row) for row in rows]
    record_changes(changes_of(session.info), outcomes)
    return outcomes


async def transfer(
    ledger: Ledger,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    to: str,
    amount: int,
    note: str | None = None,
    idempotency_key: str,
) -> tuple[TransactionView, bool]:
    """Pay another user in the caller's unit of work. Returns the transaction and whether this
    was a replay; a refusal is raised."""
    request = prepare(
        ledger, user_id=user_id, to=to, amount=amount, note=note, idempotency_key=idempotency_key
    )
    (outcome,) = await apply(ledger, session, [request])
    return outcome.result()
