"""Ledger operations. Each takes the session of one unit of work as its first argument and never
commits: the caller's unit of work does (see ``okane_core.db.engine.run_in_transaction``).

Every operation that moves money locks all the account rows it touches in ascending id order
(``lock_accounts``), checks its rules against the locked rows, then writes the transaction, its
postings and the new balances. Nothing reads a balance it has not locked before deciding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.errors import (
    AlreadySettled,
    AmountMismatch,
    CurrencyMismatch,
    DailyLimitExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    NotReversible,
    RecipientNotFound,
    SelfTransfer,
    TransactionNotFound,
    UserNotFound,
)
from okane_core.ids import new_id, new_reference
from okane_core.ledger import repository as repo
from okane_core.ledger.domain import (
    AccountKind,
    BalanceChange,
    FailureReason,
    Kind,
    Status,
    SystemAccount,
    balance_changes,
    can_cover,
    check_balanced,
    check_transition,
    reversal_postings,
    transfer_postings,
    validate_amount,
    within_daily_limit,
)
from okane_core.ledger.locking import lock_accounts
from okane_core.ledger.views import HistoryPage, TransactionView, Wallet
from okane_core.observability.tracing import current_traceparent, link_to
from okane_core.settings import Settings
from okane_core.users.domain import parse_user_ref

# Days start at midnight in India for daily limits.
LIMIT_TIMEZONE = "Asia/Kolkata"
MAX_NOTE_LENGTH = 140


def request_hash(operation: str, request: dict[str, Any]) -> bytes:
    """A fingerprint of what was asked, to tell a replay from a different request."""
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).digest()


class Ledger:
    """The money-moving operations, configured once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._system_ids: dict[str, int] = {}

    # --- set-up -------------------------------------------------------------------------------

    async def _system_account(self, session: AsyncSession, code: SystemAccount) -> int:
        if code not in self._system_ids:
            account_id = await repo.system_account_id(session, code)
            if account_id is None:
                raise LookupError(f"system account {code} is missing: run the migrations")
            self._system_ids[code] = account_id
        return self._system_ids[code]

    async def open_wallet(self, session: AsyncSession, user_id: uuid.UUID) -> Wallet:
        """Open the user's wallet. A welcome credit, when configured, is a transfer from the
        promotions account: no money appears from nowhere."""
        account_id = await repo.insert_account(
            session,
            kind=AccountKind.WALLET,
            currency=self.settings.currency,
            user_id=user_id,
            code=None,
        )
        if self.settings.welcome_credit > 0:
            source = await self._system_account(session, SystemAccount.PROMOTIONS)
            await lock_accounts(session, [source, account_id])
            await self._post(
                session,
                kind=Kind.P2P,
                debit=source,
                credit=account_id,
                amount=self.settings.welcome_credit,
                initiator_id=None,
                note="Welcome to OKANE",
            )
        wallet = await repo.wallet_of(session, user_id)
        assert wallet is not None
        return wallet

    # --- reads --------------------------------------------------------------------------------

    async def wallet(self, session: AsyncSession, user_id: uuid.UUID) -> Wallet:
        wallet = await repo.wallet_of(session, user_id)
        if wallet is None:
            raise UserNotFound("this user has no wallet")
        return wallet

    async def transaction(
        self, session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID
    ) -> TransactionView:
        """One transaction of this user's; another user's is indistinguishable from none."""
        wallet = await self.wallet(session, user_id)
        view = await repo.transaction_for_account(session, wallet.account_id, transaction_id)
        if view is None:
            raise TransactionNotFound("no such transaction", field="id")
        return view

    async def history(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        *,
        limit: int = 20,
        starting_after: uuid.UUID | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> HistoryPage:
        if not 1 <= limit <= 100:
            raise InvalidRequest("limit must be between 1 and 100", field="limit")
        if kind is not None and kind not in set(Kind):
            raise InvalidRequest(f"kind must be one of {', '.join(Kind)}", field="kind")
        if status is not None and status not in set(Status):
            raise InvalidRequest(f"status must be one of {', '.join(Status)}", field="status")
        wallet = await self.wallet(session, user_id)
        if starting_after is not None:
            # The cursor must be one of this user's own transactions.
            await self.transaction(session, user_id, starting_after)
        return await repo.history(
            session, wallet.account_id, limit=limit, before=starting_after, kind=kind, status=status
        )

    # --- idempotency --------------------------------------------------------------------------

    async def _idempotent(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        key: str,
        operation: str,
        request: dict[str, Any],
        perform: Callable[[uuid.UUID], Awaitable[TransactionView]],
    ) -> tuple[TransactionView, bool]:
        """Run ``perform`` once per (user, key). ``perform`` creates the transaction with the id
        it is given. Returns the transaction and whether it is a replay of an earlier request."""
        if not key or len(key) > 255:
            raise InvalidRequest(
                "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key"
            )
        fingerprint = request_hash(operation, request)
        new_transaction = new_id()
        claimed, held_operation, held_hash, transaction_id = await repo.claim_idempotency_key(
            session,
            user_id=user_id,
            key=key,
            operation=operation,
            request_hash=fingerprint,
            ttl_seconds=self.settings.idempotency_ttl_seconds,
            transaction_id=new_transaction,
        )
        if not claimed:
            if held_operation != operation or held_hash != fingerprint or transaction_id is None:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a different request",
                    field="Idempotency-Key",
                )
            return await self.transaction(session, user_id, transaction_id), True
        view = await perform(new_transaction)
        assert view.id == new_transaction
        return view, False

    # --- posting ------------------------------------------------------------------------------

    async def _post(
        self,
        session: AsyncSession,
        *,
        kind: Kind,
        debit: int,
        credit: int,
        amount: int,
        initiator_id: uuid.UUID | None,
        note: str | None = None,
        reverses_id: uuid.UUID | None = None,
    ) -> TransactionView:
        """Record a successful movement: transaction, balanced postings, new balances.
        The caller holds the locks on both accounts."""
        postings = transfer_postings(debit, credit, amount)
        check_balanced(postings)
        view = await repo.insert_transaction(
            session,
            id=new_id(),
            kind=kind,
            status=Status.SUCCESS,
            amount=amount,
            currency=self.settings.currency,
            debit_account_id=debit,
            credit_account_id=credit,
            initiator_id=initiator_id,
            note=note,
            reverses_id=reverses_id,
        )
        await repo.insert_postings(session, view.id, self.settings.currency, postings)
        await repo.apply_balance_changes(session, balance_changes(postings))
        return view

    async def _touch(self, session: AsyncSession, account_id: int) -> None:
        """Bump a locked wallet's version without moving money: what its owner sees (history)
        changed, so cached views of it must be replaced."""
        await repo.apply_balance_changes(session, [BalanceChange(account_id)])

    async def _check_daily(
        self, session: AsyncSession, account_id: int, amount: int, *, kinds: str
    ) -> None:
        limit = (
            self.settings.daily_outgoing_limit
            if kinds == "outgoing"
            else self.settings.daily_topup_limit
        )
        spent = await repo.spent_today(session, account_id, kinds=kinds, timezone=LIMIT_TIMEZONE)
        if not within_daily_limit(spent, amount, limit):
            raise DailyLimitExceeded(
                f"this would exceed the daily limit of {limit} paise "
                f"({max(limit - spent, 0)} paise left today)",
                field="amount",
            )

    # --- P2P transfer -------------------------------------------------------------------------

    async def transfer(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        to: str,
        amount: int,
        note: str | None = None,
        idempotency_key: str,
    ) -> tuple[TransactionView, bool]:
        """Pay another user, found by user id, phone or email.

        Insufficient funds is not an error: it is recorded as a ``failure`` transaction with
        reason ``insufficient_funds`` and moves nothing, so the payer sees it in the history.
        """
        validate_amount(amount, maximum=self.settings.max_transaction_amount)
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise InvalidRequest(f"note must be at most {MAX_NOTE_LENGTH} characters", field="note")
        by, ref = parse_user_ref(to)
        request = {"to": to.strip(), "amount": amount, "note": note}

        async def perform(transaction_id: uuid.UUID) -> TransactionView:
            sender, recipient = await repo.transfer_parties(session, user_id, by, ref)
            if recipient is None:
                raise RecipientNotFound("no OKANE user has this id, phone or email", field="to")
            if recipient.user_id == user_id:
                raise SelfTransfer("you cannot pay yourself", field="to")
            if sender is None:
                raise UserNotFound("this user has no wallet")
            locked = await lock_accounts(session, [sender.account_id, recipient.account_id])
            debit = locked[sender.account_id]
            if debit.currency != locked[recipient.account_id].currency:
                raise CurrencyMismatch("the two wallets hold different currencies", field="to")
            await self._check_daily(session, debit.id, amount, kinds="outgoing")
            if not can_cover(debit.available, amount):
                view = await repo.insert_transaction(
                    session,
                    id=transaction_id,
                    kind=Kind.P2P,
                    status=Status.FAILURE,
                    failure_reason=FailureReason.INSUFFICIENT_FUNDS,
                    amount=amount,
                    currency=debit.currency,
                    debit_account_id=debit.id,
                    credit_account_id=recipient.account_id,
                    initiator_id=user_id,
                    note=note,
                )
                await self._touch(session, debit.id)
            else:
                view = await repo.post_transfer(
                    session,
                    id=transaction_id,
                    debit=sender,
                    credit=recipient,
                    amount=amount,
                    currency=debit.currency,
                    note=note,
                )
            # What the payer sees, without reading it back.
            return dataclasses.replace(
                view,
                direction="debit",
                counterparty_id=recipient.user_id,
                counterparty_name=recipient.name,
            )

        return await self._idempotent(
            session,
            user_id=user_id,
            key=idempotency_key,
            operation="transfer",
            request=request,
            perform=perform,
        )

    # --- top-up -------------------------------------------------------------------------------

    async def start_topup(
        self, session: AsyncSession, *, user_id: uuid.UUID, amount: int, idempotency_key: str
    ) -> tuple[TransactionView, bool]:
        """Record a top-up the bank has yet to confirm. Nothing is credited until it does."""
        validate_amount(amount, maximum=self.settings.max_transaction_amount)

        async def perform(transaction_id: uuid.UUID) -> TransactionView:
            wallet = await self.wallet(session, user_id)
            clearing = await self._system_account(session, SystemAccount.BANK_CLEARING)
            # Serialise a user's top-ups so the daily cap holds under concurrency.
            await lock_accounts(session, [wallet.account_id])
            await self._check_daily(session, wallet.account_id, amount, kinds="topup")
            view = await repo.insert_transaction(
                session,
                id=transaction_id,
                kind=Kind.TOPUP,
                status=Status.PROCESSING,
                amount=amount,
                currency=wallet.currency,
                debit_account_id=clearing,
                credit_account_id=wallet.account_id,
                initiator_id=user_id,
                reference=new_reference("tp"),
                expires_in_seconds=self.settings.settlement_deadline_seconds,
                trace_parent=current_traceparent(),
            )
            await self._touch(session, wallet.account_id)
            return view

        view, replay = await self._idempotent(
            session,
            user_id=user_id,
            key=idempotency_key,
            operation="topup",
            request={"amount": amount},
            perform=perform,
        )
        return await self.transaction(session, user_id, view.id), replay

    # --- withdrawal ---------------------------------------------------------------------------

    async def request_withdrawal(
        self, session: AsyncSession, *, user_id: uuid.UUID, amount: int, idempotency_key: str
    ) -> tuple[TransactionView, bool]:
        """Put ``amount`` on hold (available -> locked) until the bank pays it out or refuses."""
        validate_amount(amount, maximum=self.settings.max_transaction_amount)

        async def perform(transaction_id: uuid.UUID) -> TransactionView:
            wallet = await self.wallet(session, user_id)
            clearing = await self._system_account(session, SystemAccount.BANK_CLEARING)
            account = (await lock_accounts(session, [wallet.account_id]))[wallet.account_id]
            await self._check_daily(session, account.id, amount, kinds="outgoing")
            common: dict[str, Any] = {
                "id": transaction_id,
                "kind": Kind.WITHDRAWAL,
                "amount": amount,
                "currency": account.currency,
                "debit_account_id": account.id,
                "credit_account_id": clearing,
                "initiator_id": user_id,
            }
            if not can_cover(account.available, amount):
                failed = await repo.insert_transaction(
                    session,
                    **common,
                    status=Status.FAILURE,
                    failure_reason=FailureReason.INSUFFICIENT_FUNDS,
                )
                await self._touch(session, account.id)
                return failed
            view = await repo.insert_transaction(
                session,
                **common,
                status=Status.PROCESSING,
                reference=new_reference("wd"),
                expires_in_seconds=self.settings.settlement_deadline_seconds,
                trace_parent=current_traceparent(),
            )
            await repo.apply_balance_changes(
                session, [BalanceChange(account.id, available=-amount, locked=amount)]
            )
            return view

        view, replay = await self._idempotent(
            session,
            user_id=user_id,
            key=idempotency_key,
            operation="withdrawal",
            request={"amount": amount},
            perform=perform,
        )
        return await self.transaction(session, user_id, view.id), replay

    # --- settlement ---------------------------------------------------------------------------

    async def settle(
        self,
        session: AsyncSession,
        *,
        reference: str,
        kind: Kind,
        success: bool,
        amount: int,
    ) -> TransactionView:
        """Apply the bank's answer for a pending top-up or withdrawal, exactly once.

        The transaction row is locked first, so two settlements of one reference queue and the
        second finds it final (``already_settled``). A wrong amount changes nothing. A
        settlement that arrives after the deadline expires the transaction instead, and the
        returned view says so (status ``failure``, reason ``expired``).
        """
        txn = await repo.lock_transaction(session, reference=reference)
        if txn is None or txn.kind != kind:
            raise TransactionNotFound(f"no pending {kind} has this reference", field="reference")
        for link in link_to(txn.trace_parent):
            # This callback's trace points at the request that started the transaction.
            trace.get_current_span().add_link(link.context, {"okane.reference": reference})
        if txn.status != Status.PROCESSING:
            raise AlreadySettled(f"this {kind} is already {txn.status}", field="reference")
        if amount != txn.amount:
            raise AmountMismatch(
                f"the {kind} is for {txn.amount} paise, not {amount}", field="amount"
            )
        if txn.expires_at is not None and txn.expires_at <= await repo.database_now(session):
            # Too late: the transaction expires now, whatever the bank says. The caller sees a
            # failure with reason ``expired``.
            return await self._finish(session, txn, success=False, reason=FailureReason.EXPIRED)
        return await self._finish(
            session, txn, success=success, reason=None if success else FailureReason.BANK_DECLINED
        )

    async def _finish(
        self,
        session: AsyncSession,
        txn: TransactionView,
        *,
        success: bool,
        reason: FailureReason | None,
    ) -> TransactionView:
        """Move a locked, processing top-up or withdrawal to its final state."""
        new_status = Status.SUCCESS if success else Status.FAILURE
        check_transition(Status(txn.status), new_status)
        await lock_accounts(session, [txn.debit_account_id, txn.credit_account_id])
        if txn.kind == Kind.TOPUP and success:
            postings = transfer_postings(txn.debit_account_id, txn.credit_account_id, txn.amount)
            await repo.insert_postings(session, txn.id, txn.currency, postings)
            await repo.apply_balance_changes(session, balance_changes(postings))
        elif txn.kind == Kind.TOPUP:
            await self._touch(session, txn.credit_account_id)
        elif txn.kind == Kind.WITHDRAWAL:
            # The hold is released either way: paid out to the bank (the wallet's posting
            # comes out of ``locked``), or back to available.
            release = BalanceChange(txn.debit_account_id, locked=-txn.amount)
            if success:
                postings = transfer_postings(
                    txn.debit_account_id, txn.credit_account_id, txn.amount
                )
                await repo.insert_postings(session, txn.id, txn.currency, postings)
                payout = BalanceChange(txn.credit_account_id, available=txn.amount)
                await repo.apply_balance_changes(session, [release, payout])
            else:
                refund = BalanceChange(txn.debit_account_id, available=txn.amount)
                await repo.apply_balance_changes(session, [release, refund])
        return await repo.finish_transaction(
            session, txn.id, status=new_status, failure_reason=reason
        )

    async def expire_pending(self, session: AsyncSession, *, limit: int = 100) -> int:
        """Fail every pending top-up and withdrawal past its deadline, releasing holds."""
        expired = await repo.lock_expired(session, limit)
        for txn in expired:
            await self._finish(session, txn, success=False, reason=FailureReason.EXPIRED)
        return len(expired)

    # --- reversal -----------------------------------------------------------------------------

    async def reverse(
        self,
        session: AsyncSession,
        *,
        transaction_id: uuid.UUID,
        initiator_id: uuid.UUID | None,
        note: str | None = None,
    ) -> TransactionView:
        """Undo a successful transaction with a new, opposite one (an admin action). Postings
        are never changed. A transaction can be reversed once."""
        original = await repo.lock_transaction(session, transaction_id=transaction_id)
        if original is None:
            raise TransactionNotFound("no such transaction", field="transaction_id")
        if original.kind == Kind.REVERSAL or original.status != Status.SUCCESS:
            raise NotReversible("only a successful top-up, transfer or withdrawal can be reversed")
        if await repo.reversal_of(session, original.id) is not None:
            raise NotReversible("this transaction was already reversed")
        postings = reversal_postings(await repo.postings_of(session, original.id))
        locked = await lock_accounts(session, [p.account_id for p in postings])
        for posting in postings:
            account = locked[posting.account_id]
            if account.kind == AccountKind.WALLET and account.available + posting.amount < 0:
                raise InsufficientFunds("the wallet to be debited no longer holds the amount")
        view = await repo.insert_transaction(
            session,
            id=new_id(),
            kind=Kind.REVERSAL,
            status=Status.SUCCESS,
            amount=original.amount,
            currency=original.currency,
            debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id,
            initiator_id=initiator_id,
            note=note,
            reverses_id=original.id,
        )
        await repo.insert_postings(session, view.id, view.currency, postings)
        await repo.apply_balance_changes(session, balance_changes(postings))
        return view
