"""Use cases of admin power, granted and checked, never claimed.

The role is granted and revoked by an operator (``okane admin grant|revoke``), read from the
database on every admin request (a revoked admin's token stops working at once), and every
manual money movement is a request that a second admin approves (maker-checker). Nobody acts
on a transaction of their own wallet. Each act lands in the append-only audit log in the same
transaction as the act itself.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.app.context import Okane
from okane_core.db import audit
from okane_core.db.audit import AuditRecord
from okane_core.errors import (
    AdminRequestNotFound,
    AlreadyDecided,
    NotReversible,
    OwnTransaction,
    PermissionDenied,
    SecondAdminRequired,
    TransactionNotFound,
    UserNotFound,
)
from okane_core.ids import new_id
from okane_core.ledger import reversals
from okane_core.ledger.book import MAX_NOTE_LENGTH
from okane_core.ledger.domain import check_note
from okane_core.ledger.repository import admin_requests, transactions
from okane_core.ledger.views import AdminRequestView, TransactionView
from okane_core.users import repository as users
from okane_core.users.domain import parse_user_ref
from okane_core.users.views import UserRecord

REVERSAL = "reversal"


def _actor(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


async def is_admin(okane: Okane, user_id: uuid.UUID) -> bool:
    """Whether the user holds the role now (read from PostgreSQL, not from the token)."""
    user = await okane.uow.read(lambda s: users.get_user(s, user_id))
    return user is not None and user.is_admin


async def _check_not_party(
    session: AsyncSession, admin_id: uuid.UUID, original: TransactionView
) -> None:
    owners = await admin_requests.owners_of_accounts(
        session, [original.debit_account_id, original.credit_account_id]
    )
    if admin_id in owners:
        raise OwnTransaction("an admin cannot act on a transaction of their own wallet")


async def _reversible(
    session: AsyncSession, admin_id: uuid.UUID, transaction_id: uuid.UUID
) -> TransactionView:
    original = await transactions.lock_transaction(session, transaction_id=transaction_id)
    if original is None:
        raise TransactionNotFound("no such transaction", field="transaction_id")
    await _check_not_party(session, admin_id, original)
    reversals.check_reversible(original)
    return original


async def request_reversal(
    okane: Okane, *, admin_id: uuid.UUID, transaction_id: uuid.UUID, note: str | None
) -> AdminRequestView:
    """Ask for a reversal; nothing moves until a second admin approves it."""

    check_note(note, maximum=MAX_NOTE_LENGTH)

    async def work(s: AsyncSession) -> AdminRequestView:
        await _reversible(s, admin_id, transaction_id)
        if await transactions.reversal_of(s, transaction_id) is not None:
            raise NotReversible("this transaction was already reversed")
        request = await admin_requests.insert(
            s,
            request_id=new_id(),
            action=REVERSAL,
            transaction_id=transaction_id,
            note=note,
            requested_by=admin_id,
        )
        await audit.record(
            s,
            actor=_actor(admin_id),
            action="reversal.requested",
            subject=f"transaction:{transaction_id}",
            detail={"request": str(request.id), "note": note},
        )
        return request

    return await okane.uow.write(work)


async def decide(
    okane: Okane, *, admin_id: uuid.UUID, request_id: uuid.UUID, approve: bool
) -> AdminRequestView:
    """Approve (the reversal happens now, in this transaction) or reject a request. The
    approver is a second admin, not a party to the transaction."""

    async def work(s: AsyncSession) -> AdminRequestView:
        request = await admin_requests.lock(s, request_id)
        if request is None:
            raise AdminRequestNotFound("no such admin request", field="request_id")
        if request.status != "pending":
            raise AlreadyDecided(f"this request was already {request.status}")
        if request.requested_by == admin_id:
            raise SecondAdminRequired("a second admin must decide a request you made")
        result_id = None
        if approve:
            await _reversible(s, admin_id, request.transaction_id)
            reversal = await reversals.reverse(
                s,
                transaction_id=request.transaction_id,
                initiator_id=request.requested_by,
                note=request.note,
            )
            result_id = reversal.id
        decided = await admin_requests.decide(
            s,
            request_id,
            status="approved" if approve else "rejected",
            decided_by=admin_id,
            result_id=result_id,
        )
        await audit.record(
            s,
            actor=_actor(admin_id),
            action=f"reversal.{decided.status}",
            subject=f"transaction:{request.transaction_id}",
            detail={
                "request": str(request_id),
                "result": None if result_id is None else str(result_id),
            },
        )
        return decided

    return await okane.uow.write(work)


async def list_requests(okane: Okane, *, status: str | None, limit: int) -> list[AdminRequestView]:
    return await okane.uow.read(lambda s: admin_requests.listed(s, status=status, limit=limit))


async def audit_entries(
    okane: Okane, *, limit: int, subject: str | None = None
) -> list[AuditRecord]:
    return await okane.uow.read(lambda s: audit.entries(s, limit=limit, subject=subject))


async def set_role(okane: Okane, ref: str, *, admin: bool, actor: str) -> UserRecord:
    """Grant or revoke the admin role of the user with this id, phone or email (an operator's
    act, recorded in the audit log)."""
    by, value = parse_user_ref(ref)

    async def work(s: AsyncSession) -> UserRecord:
        user = await users.find_user(s, by, value)
        if user is None:
            raise UserNotFound("no such user", field="user")
        if user.is_admin == admin:
            return user
        if admin and not user.has_proven_contact:
            raise PermissionDenied(
                "this user has no verified phone or email; the role goes only to a proven account",
                field="user",
            )
        changed = await users.update_user(s, user.id, is_admin=admin)
        await audit.record(
            s,
            actor=actor,
            action="admin.granted" if admin else "admin.revoked",
            subject=_actor(user.id),
            detail={"name": user.name},
        )
        return changed

    return await okane.uow.write(work)


async def admins(okane: Okane) -> list[UserRecord]:
    return await okane.uow.read(users.admins)
