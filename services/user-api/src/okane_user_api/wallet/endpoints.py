"""/v1: the signed-in user's profile, wallet, money movement, history and contacts."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status

from okane_core.app import profiles, reads, topups, transfers, withdrawals
from okane_core.ledger.views import TransactionView
from okane_user_api.auth import service as auth_service
from okane_user_api.deps import CurrentUser, Revocation, State, TokenUser
from okane_user_api.schemas import (
    ContactList,
    ContactOut,
    PasswordChange,
    ProfileUpdate,
    TopupRequest,
    TransactionOut,
    TransactionPage,
    TransferRequest,
    UserOut,
    WalletOut,
    WithdrawalRequest,
)
from okane_user_api.wallet.route import MoneyRoute
from okane_web.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["wallet"])
# Top-ups, transfers and withdrawals: resolved by their own route class (``wallet/route.py``).
money_router = APIRouter(prefix="/v1", tags=["wallet"], route_class=MoneyRoute)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="unique per request: a retry with the same key returns the first result",
    ),
]

AUTH = problem_responses(401)
MOVE = problem_responses(
    401,
    404,
    409,
    413,
    422,
    503,
    d404="recipient not found",
    d409="Idempotency-Key reused for a different request",
    d422="invalid amount, limit exceeded, or invalid input",
    d503="the wallet is busy; retry with the same Idempotency-Key",
)
READ = problem_responses(401, 404, 422)


REPLAYED = {"Idempotent-Replayed": "true"}


def _created(view: TransactionView, replayed: bool) -> Response:
    """The money endpoints' answer, serialised once here (the route's ``response_model``
    documents it): 201, with ``Idempotent-Replayed`` on a replay."""
    return Response(
        TransactionOut.of(view).model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
        headers=REPLAYED if replayed else None,
    )


@router.get("/me", responses=AUTH)
async def me(principal: CurrentUser, state: State) -> UserOut:
    return UserOut.of(await state.okane.cache.reads.profile(principal.user_id))


@router.patch("/me", responses=problem_responses(401, 409, 413, 422, d409="email taken"))
async def update_me(body: ProfileUpdate, principal: CurrentUser, state: State) -> UserOut:
    user = await profiles.update_profile(
        state.okane, principal.user_id, name=body.name, email=body.email
    )
    return UserOut.of(user)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 413, 422, 429, d403="the current password is not right"),
)
async def change_password(
    body: PasswordChange, principal: CurrentUser, state: State, revocations: Revocation
) -> Response:
    """Change the password (the current one is needed): every other device is signed out, and
    the owner is told."""
    await auth_service.change_password(
        state, revocations, principal, current=body.current_password, new=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/wallet", responses=AUTH)
async def wallet(principal: CurrentUser, state: State) -> WalletOut:
    """Balance in paise. Served from the cache, never older than the last acknowledged write."""
    return WalletOut.of(await state.okane.cache.reads.wallet(principal.user_id))


@money_router.post(
    "/topups",
    status_code=status.HTTP_201_CREATED,
    response_model=TransactionOut,
    responses=MOVE,
)
async def start_topup(
    body: TopupRequest,
    key: IdempotencyKey,
    principal: CurrentUser,
    state: State,
) -> Response:
    """Start adding money from the bank. The top-up stays ``processing`` until the bank
    confirms it (quoting ``reference``) through the bank webhook."""
    view, replayed = await topups.start_topup(
        state.okane, user_id=principal.user_id, amount=body.amount, idempotency_key=key
    )
    return _created(view, replayed)


@money_router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=TransactionOut,
    responses=MOVE,
)
async def transfer(
    body: TransferRequest,
    key: IdempotencyKey,
    principal: TokenUser,
    state: State,
) -> Response:
    """Pay another user by phone, email or user id. Not enough money is a ``failure`` with
    reason ``insufficient_funds`` (recorded, nothing moved)."""
    view, replayed = await transfers.transfer(
        state.okane,
        user_id=principal.user_id,
        to=body.to,
        amount=body.amount,
        note=body.note,
        idempotency_key=key,
        session_id=principal.session_id,  # checked live in the transfer's own round trip
    )
    return _created(view, replayed)


@money_router.post(
    "/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=TransactionOut,
    responses=MOVE,
)
async def withdraw(
    body: WithdrawalRequest,
    key: IdempotencyKey,
    principal: CurrentUser,
    state: State,
) -> Response:
    """Withdraw to the bank: the amount is held (``locked``) until the bank pays it out."""
    view, replayed = await withdrawals.request_withdrawal(
        state.okane, user_id=principal.user_id, amount=body.amount, idempotency_key=key
    )
    return _created(view, replayed)


@router.get("/transactions", responses=READ)
async def transactions(
    principal: CurrentUser,
    state: State,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[
        uuid.UUID | None, Query(description="id of the last transaction of the previous page")
    ] = None,
    kind: Literal["topup", "p2p", "withdrawal", "reversal"] | None = None,
    status_filter: Annotated[
        Literal["processing", "unknown", "success", "failure"] | None, Query(alias="status")
    ] = None,
) -> TransactionPage:
    """History, newest first, paginated by cursor."""
    if starting_after is None and kind is None and status_filter is None:
        page = await state.okane.cache.reads.history(principal.user_id, limit)
    else:
        page = await reads.history(
            state.okane.uow,
            principal.user_id,
            limit=limit,
            starting_after=starting_after,
            kind=kind,
            status=status_filter,
        )
    return TransactionPage(data=[TransactionOut.of(v) for v in page.data], has_more=page.has_more)


@router.get("/transactions/{transaction_id}", responses=READ)
async def transaction(
    transaction_id: uuid.UUID, principal: CurrentUser, state: State
) -> TransactionOut:
    return TransactionOut.of(
        await reads.transaction(state.okane.uow, principal.user_id, transaction_id)
    )


@router.get("/contacts", responses=READ)
async def contacts(
    principal: CurrentUser,
    state: State,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ContactList:
    """People this user paid or was paid by, most recent first."""
    found = await state.okane.cache.reads.contacts(principal.user_id, limit)
    return ContactList(data=[ContactOut.of(c) for c in found])
