"""Ledger operations on a real PostgreSQL, one database per test."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.errors import (
    AlreadySettled,
    AmountMismatch,
    AmountOverLimit,
    DailyLimitExceeded,
    DuplicateUser,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    NotReversible,
    RecipientNotFound,
    SelfTransfer,
    TransactionNotFound,
)
from okane_core.ledger import reversals, settlement, topups, transfers, wallets, withdrawals
from okane_core.ledger.bank import apply_bank_event
from okane_core.ledger.book import Ledger
from okane_core.ledger.reconcile import reconcile
from okane_core.ledger.repository import idempotency
from okane_core.settings import Settings
from okane_core.users.service import register_user
from tests.factories import fund, make_user, next_phone


async def balance(sessions: SessionFactory, ledger: Ledger, user_id: uuid.UUID) -> tuple[int, int]:
    async with sessions() as s:
        wallet = await wallets.wallet(s, user_id)
    return wallet.available, wallet.locked


async def assert_reconciled(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        report = await reconcile(s)
    assert report.violations == []


async def transfer(sessions, ledger, sender, to, amount, key=None, note=None):
    return await run_in_transaction(
        sessions,
        lambda s: transfers.transfer(
            ledger,
            s,
            user_id=sender,
            to=to,
            amount=amount,
            note=note,
            idempotency_key=key or uuid.uuid4().hex,
        ),
    )


async def bank(sessions, ledger, event_type, reference, amount, event_id=None):
    return await run_in_transaction(
        sessions,
        lambda s: apply_bank_event(
            s,
            event_id=event_id or uuid.uuid4().hex,
            event_type=event_type,
            reference=reference,
            amount=amount,
        ),
    )


async def test_new_wallet_is_empty_and_versioned(sessions: SessionFactory, ledger: Ledger) -> None:
    user = await make_user(sessions, ledger)
    async with sessions() as s:
        wallet = await wallets.wallet(s, user.id)
    assert (wallet.available, wallet.locked, wallet.currency) == (0, 0, "INR")
    assert wallet.version >= 1


async def test_welcome_credit_comes_from_the_promotions_account(
    sessions: SessionFactory, settings: Settings
) -> None:
    ledger = Ledger(settings.model_copy(update={"welcome_credit": 5_000}))
    user = await make_user(sessions, ledger)
    assert await balance(sessions, ledger, user.id) == (5_000, 0)
    async with sessions() as s:
        promotions = (
            await s.execute(text("SELECT available FROM accounts WHERE code = 'promotions'"))
        ).scalar_one()
    assert promotions == -5_000
    await assert_reconciled(sessions)


async def test_topup_is_credited_only_when_the_bank_confirms(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, replay = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(
            ledger, s, user_id=user.id, amount=10_000, idempotency_key="k1"
        ),
    )
    assert (view.status, view.kind, replay) == ("processing", "topup", False)
    assert view.reference and view.reference.startswith("tp_")
    assert await balance(sessions, ledger, user.id) == (0, 0)

    result = await bank(sessions, ledger, "topup.succeeded", view.reference, 10_000)
    assert result.outcome == "applied"
    assert result.response["transaction"]["status"] == "success"
    assert await balance(sessions, ledger, user.id) == (10_000, 0)

    again = await bank(sessions, ledger, "topup.succeeded", view.reference, 10_000)
    assert again.outcome == "already_settled"
    assert await balance(sessions, ledger, user.id) == (10_000, 0)
    await assert_reconciled(sessions)


async def test_a_failed_topup_can_never_be_credited(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=700, idempotency_key="k"),
    )
    assert view.reference is not None
    failed = await bank(sessions, ledger, "topup.failed", view.reference, 700)
    assert failed.response["transaction"]["failure_reason"] == "bank_declined"
    late = await bank(sessions, ledger, "topup.succeeded", view.reference, 700)
    assert late.outcome == "already_settled"
    assert await balance(sessions, ledger, user.id) == (0, 0)


async def test_wrong_amount_and_unknown_reference_change_nothing(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=700, idempotency_key="k"),
    )
    assert view.reference is not None
    wrong = await bank(sessions, ledger, "topup.succeeded", view.reference, 70_000)
    assert wrong.outcome == AmountMismatch.code
    unknown = await bank(sessions, ledger, "topup.succeeded", "tp_nope", 700)
    assert unknown.outcome == TransactionNotFound.code
    crossed = await bank(sessions, ledger, "withdrawal.succeeded", view.reference, 700)
    assert crossed.outcome == TransactionNotFound.code
    assert await balance(sessions, ledger, user.id) == (0, 0)
    async with sessions() as s:
        assert (await wallets.transaction(s, user.id, view.id)).status == "processing"


async def test_same_event_id_has_one_effect_and_one_answer(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=900, idempotency_key="k"),
    )
    assert view.reference is not None
    first = await bank(sessions, ledger, "topup.succeeded", view.reference, 900, event_id="evt-1")
    second = await bank(sessions, ledger, "topup.succeeded", view.reference, 900, event_id="evt-1")
    assert (first.replayed, second.replayed) == (False, True)
    assert second.response == first.response
    assert await balance(sessions, ledger, user.id) == (900, 0)


async def test_transfer_moves_available_between_wallets(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger, name="Asha")
    ravi = await make_user(sessions, ledger, name="Ravi", email="ravi@example.com")
    await fund(sessions, ledger, asha.id, 10_000)
    view, replay = await transfer(sessions, ledger, asha.id, "RAVI@example.com", 2_500, note="chai")
    assert (view.status, view.amount, view.direction, replay) == ("success", 2_500, "debit", False)
    assert (view.counterparty_id, view.counterparty_name, view.note) == (ravi.id, "Ravi", "chai")
    assert await balance(sessions, ledger, asha.id) == (7_500, 0)
    assert await balance(sessions, ledger, ravi.id) == (2_500, 0)
    # By phone and by user id too.
    assert ravi.phone is not None
    await transfer(sessions, ledger, asha.id, ravi.phone, 500)
    await transfer(sessions, ledger, asha.id, str(ravi.id), 500)
    assert await balance(sessions, ledger, ravi.id) == (3_500, 0)
    await assert_reconciled(sessions)


async def test_insufficient_funds_is_a_recorded_failure_that_moves_nothing(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    view, _ = await transfer(sessions, ledger, asha.id, str(ravi.id), 1_001)
    assert (view.status, view.failure_reason) == ("failure", "insufficient_funds")
    assert await balance(sessions, ledger, asha.id) == (1_000, 0)
    assert await balance(sessions, ledger, ravi.id) == (0, 0)
    async with sessions() as s:
        mine = await wallets.history(s, asha.id)
        theirs = await wallets.history(s, ravi.id)
    assert mine.data[0].id == view.id
    assert view.id not in [t.id for t in theirs.data]
    await assert_reconciled(sessions)


@pytest.mark.parametrize(
    ("amount", "to", "error"),
    [
        (0, "other", InvalidAmount),
        (-100, "other", InvalidAmount),
        (10**15, "other", AmountOverLimit),
        (100, "self", SelfTransfer),
        (100, "+919999999990", RecipientNotFound),
        (100, str(uuid.UUID(int=7)), RecipientNotFound),
        (100, "nobody@example.com", RecipientNotFound),
        (100, "not a phone", InvalidRequest),
    ],
)
async def test_bad_transfers_are_refused_and_change_nothing(
    sessions: SessionFactory, ledger: Ledger, amount: int, to: str, error: type[Exception]
) -> None:
    asha = await make_user(sessions, ledger)
    other = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    target = {"self": str(asha.id), "other": str(other.id)}.get(to, to)
    with pytest.raises(error):
        await transfer(sessions, ledger, asha.id, target, amount)
    assert await balance(sessions, ledger, asha.id) == (1_000, 0)
    async with sessions() as s:
        assert len((await wallets.history(s, asha.id)).data) == 1  # only the top-up


async def test_idempotent_replay_returns_the_first_result(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    first, replay1 = await transfer(sessions, ledger, asha.id, str(ravi.id), 300, key="pay-1")
    second, replay2 = await transfer(sessions, ledger, asha.id, str(ravi.id), 300, key="pay-1")
    assert (replay1, replay2) == (False, True)
    assert second == first
    assert await balance(sessions, ledger, asha.id) == (700, 0)
    with pytest.raises(IdempotencyConflict):
        await transfer(sessions, ledger, asha.id, str(ravi.id), 301, key="pay-1")
    # Keys are per user: Ravi may use the same key for his own payment.
    await fund(sessions, ledger, ravi.id, 100)
    back, replay = await transfer(sessions, ledger, ravi.id, str(asha.id), 100, key="pay-1")
    assert (back.status, replay) == ("success", False)


async def test_expired_idempotency_key_can_be_reused(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    await transfer(sessions, ledger, asha.id, str(ravi.id), 100, key="old")
    async with sessions() as s, s.begin():
        await s.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 s'"))
    view, replay = await transfer(sessions, ledger, asha.id, str(ravi.id), 200, key="old")
    assert (view.amount, replay) == (200, False)
    assert await balance(sessions, ledger, asha.id) == (700, 0)


async def test_withdrawal_holds_then_pays_out(sessions: SessionFactory, ledger: Ledger) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 5_000)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user.id, amount=2_000, idempotency_key="w"
        ),
    )
    assert view.status == "processing" and view.reference and view.reference.startswith("wd_")
    assert await balance(sessions, ledger, user.id) == (3_000, 2_000)
    await assert_reconciled(sessions)
    result = await bank(sessions, ledger, "withdrawal.succeeded", view.reference, 2_000)
    assert result.outcome == "applied"
    assert await balance(sessions, ledger, user.id) == (3_000, 0)
    await assert_reconciled(sessions)


async def test_declined_withdrawal_returns_the_hold(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 5_000)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user.id, amount=5_000, idempotency_key="w"
        ),
    )
    assert view.reference is not None
    assert await balance(sessions, ledger, user.id) == (0, 5_000)
    await bank(sessions, ledger, "withdrawal.failed", view.reference, 5_000)
    assert await balance(sessions, ledger, user.id) == (5_000, 0)
    await assert_reconciled(sessions)


async def test_withdrawal_beyond_available_is_a_recorded_failure(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 100)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user.id, amount=101, idempotency_key="w"
        ),
    )
    assert (view.status, view.failure_reason, view.reference) == (
        "failure",
        "insufficient_funds",
        None,
    )
    assert await balance(sessions, ledger, user.id) == (100, 0)


async def test_past_its_deadline_a_payment_waits_for_the_bank_and_keeps_its_hold(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    """The bank may have paid a withdrawal whose deadline passed: it becomes ``unknown`` and
    keeps its hold, and the bank's late "paid" pays it once; a top-up the bank confirms late
    is credited."""
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 1_000)
    withdrawal, _ = await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=user.id, amount=400, idempotency_key="w"
        ),
    )
    topup, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=50, idempotency_key="t"),
    )
    async with sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE transactions SET expires_at = now() - interval '1 s' "
                "WHERE status = 'processing'"
            )
        )
    assert await run_in_transaction(sessions, settlement.mark_overdue)
    assert await run_in_transaction(sessions, settlement.mark_overdue)
    assert not await run_in_transaction(sessions, settlement.mark_overdue)
    assert await balance(sessions, ledger, user.id) == (600, 400)  # the hold stays
    async with sessions() as s:
        for view in (withdrawal, topup):
            assert (await wallets.transaction(s, user.id, view.id)).status == "unknown"
    await assert_reconciled(sessions)
    assert withdrawal.reference is not None and topup.reference is not None
    paid = await bank(sessions, ledger, "withdrawal.succeeded", withdrawal.reference, 400)
    assert paid.outcome == "applied"
    again = await bank(sessions, ledger, "withdrawal.failed", withdrawal.reference, 400)
    assert again.outcome == AlreadySettled.code  # paid once, never refunded too
    late = await bank(sessions, ledger, "topup.succeeded", topup.reference, 50)
    assert late.outcome == "applied"
    assert await balance(sessions, ledger, user.id) == (650, 0)
    await assert_reconciled(sessions)


async def test_daily_outgoing_limit(sessions: SessionFactory, settings: Settings) -> None:
    ledger = Ledger(settings.model_copy(update={"daily_outgoing_limit": 1_000}))
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 5_000)
    await transfer(sessions, ledger, asha.id, str(ravi.id), 600)
    await run_in_transaction(
        sessions,
        lambda s: withdrawals.request_withdrawal(
            ledger, s, user_id=asha.id, amount=300, idempotency_key="w"
        ),
    )
    with pytest.raises(DailyLimitExceeded, match="100 paise left"):
        await transfer(sessions, ledger, asha.id, str(ravi.id), 101)
    view, _ = await transfer(sessions, ledger, asha.id, str(ravi.id), 100)
    assert view.status == "success"


async def test_reversal_undoes_a_transfer_once(sessions: SessionFactory, ledger: Ledger) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    view, _ = await transfer(sessions, ledger, asha.id, str(ravi.id), 400)
    reversal = await run_in_transaction(
        sessions, lambda s: reversals.reverse(s, transaction_id=view.id, initiator_id=None)
    )
    assert (reversal.kind, reversal.reverses_id, reversal.amount) == ("reversal", view.id, 400)
    assert await balance(sessions, ledger, asha.id) == (1_000, 0)
    assert await balance(sessions, ledger, ravi.id) == (0, 0)
    with pytest.raises(NotReversible):
        await run_in_transaction(
            sessions, lambda s: reversals.reverse(s, transaction_id=view.id, initiator_id=None)
        )
    with pytest.raises(NotReversible):
        await run_in_transaction(
            sessions, lambda s: reversals.reverse(s, transaction_id=reversal.id, initiator_id=None)
        )
    await assert_reconciled(sessions)


async def test_reversal_needs_the_money_to_still_be_there(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    carl = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    view, _ = await transfer(sessions, ledger, asha.id, str(ravi.id), 400)
    await transfer(sessions, ledger, ravi.id, str(carl.id), 400)
    with pytest.raises(InsufficientFunds):
        await run_in_transaction(
            sessions, lambda s: reversals.reverse(s, transaction_id=view.id, initiator_id=None)
        )
    assert await balance(sessions, ledger, carl.id) == (400, 0)


async def test_history_is_newest_first_with_cursor_pages_and_filters(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 10_000)
    sent = [(await transfer(sessions, ledger, asha.id, str(ravi.id), 100 + i))[0] for i in range(7)]
    async with sessions() as s:
        page1 = await wallets.history(s, asha.id, limit=3)
        page2 = await wallets.history(s, asha.id, limit=3, starting_after=page1.data[-1].id)
        page3 = await wallets.history(s, asha.id, limit=3, starting_after=page2.data[-1].id)
        only_topups = await wallets.history(s, asha.id, kind="topup")
        ravis = await wallets.history(s, ravi.id, limit=100)
    ids = [t.id for t in [*page1.data, *page2.data, *page3.data]]
    assert ids[:7] == [t.id for t in reversed(sent)]
    assert (page1.has_more, page2.has_more, page3.has_more) == (True, True, False)
    assert len(ids) == 8 and ids[-1] not in {t.id for t in sent}
    assert [t.kind for t in only_topups.data] == ["topup"]
    assert all(t.direction == "credit" for t in ravis.data) and len(ravis.data) == 7
    assert ravis.data[0].counterparty_id == asha.id


async def test_another_users_transaction_is_not_found(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    eve = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    view, _ = await transfer(sessions, ledger, asha.id, str(ravi.id), 100)
    async with sessions() as s:
        assert (await wallets.transaction(s, ravi.id, view.id)).direction == "credit"
        with pytest.raises(TransactionNotFound):
            await wallets.transaction(s, eve.id, view.id)
        with pytest.raises(TransactionNotFound):
            await wallets.history(s, eve.id, starting_after=view.id)


async def test_duplicate_phone_is_refused(sessions: SessionFactory, ledger: Ledger) -> None:
    phone = next_phone()
    await run_in_transaction(
        sessions, lambda s: register_user(s, ledger, name="A", phone=phone, email=None)
    )
    with pytest.raises(DuplicateUser) as raised:
        await run_in_transaction(
            sessions, lambda s: register_user(s, ledger, name="B", phone=phone, email=None)
        )
    assert raised.value.field == "phone"


async def test_expired_idempotency_keys_are_deleted(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    asha = await make_user(sessions, ledger)
    ravi = await make_user(sessions, ledger)
    await fund(sessions, ledger, asha.id, 1_000)
    await transfer(sessions, ledger, asha.id, str(ravi.id), 1, key="old")
    await transfer(sessions, ledger, asha.id, str(ravi.id), 1, key="new")
    async with sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE idempotency_keys SET expires_at = now() - interval '1 s' WHERE key = 'old'"
            )
        )
    deleted = await run_in_transaction(
        sessions, lambda s: idempotency.delete_expired_idempotency_keys(s, limit=100)
    )
    assert deleted == 1
    async with sessions() as s:
        keys = (
            (await s.execute(text("SELECT key FROM idempotency_keys ORDER BY key"))).scalars().all()
        )
    assert "old" not in keys
    assert "new" in keys
