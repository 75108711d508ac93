"""/v1/auth: sign-up, login, refresh, logout, Google sign-in."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse

from okane_core.app import logins
from okane_core.app.verification import Sent
from okane_user_api.auth import oidc, service
from okane_user_api.auth.service import IssuedTokens
from okane_user_api.deps import CurrentUser, Revocation, State, client_address
from okane_user_api.schemas import (
    LoginRequest,
    RefreshRequest,
    ResetConfirm,
    ResetRequest,
    ResetStarted,
    SessionList,
    SessionOut,
    SignupConfirm,
    SignupRequest,
    SignupStarted,
    TokenPair,
    UserOut,
)
from okane_web.problems import problem_responses

router = APIRouter(prefix="/v1/auth", tags=["auth"])
sessions_router = APIRouter(prefix="/v1/sessions", tags=["auth"])


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {
            "model": SignupStarted,
            "description": "a code is on its way to the phone (contacts to verify): confirm it",
        },
        **problem_responses(409, 413, 422, 429, d409="taken (only without verification)"),
    },
)
async def signup(
    body: SignupRequest, request: Request, response: Response, state: State
) -> UserOut | SignupStarted:
    """Open an account and its INR wallet. With contacts to verify (the default) a code goes
    to the phone and the account opens when it comes back (`/v1/auth/signup/confirm`); the
    answer is the same whether or not the phone or email is taken."""
    result = await service.signup(
        state,
        name=body.name,
        phone=body.phone,
        email=body.email,
        password=body.password,
        client=client_address(request),
    )
    if isinstance(result, Sent):
        response.status_code = status.HTTP_202_ACCEPTED
        return SignupStarted(
            detail="We sent a code to your phone; confirm it to open your wallet.",
            sent_to=result.masked,
            expires_in=result.expires_in,
        )
    return UserOut.of(result)


@router.post(
    "/signup/confirm",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        403, 409, 413, 422, 429, d403="a wrong, used or expired code", d409="taken meanwhile"
    ),
)
async def confirm_signup(body: SignupConfirm, request: Request, state: State) -> TokenPair:
    """The code sent to the phone: the account opens, signed in."""
    user = await service.confirm_signup(
        state, phone=body.phone, code=body.code, client=client_address(request)
    )
    return _pair(await service.start_session(state, user, method="signup"))


@router.post("/login", responses=problem_responses(401, 413, 422, 429))
async def login(body: LoginRequest, request: Request, state: State) -> TokenPair:
    """Log in with a phone number or an email address and the password (and, when the answer
    was 429 `step_up_required`, the code from `/v1/auth/login/code`)."""
    tokens = await service.login(
        state,
        login=body.login,
        password=body.password,
        client=client_address(request),
        code=body.code,
    )
    return _pair(tokens)


@router.post(
    "/login/code",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(413, 422, 429),
)
async def login_code(body: ResetRequest, request: Request, state: State) -> ResetStarted:
    """A sign-in code to the account's verified phone or email, for a login that answered
    `step_up_required`; the answer is the same whether or not an account matches."""
    await service.start_step_up(state, login=body.login, client=client_address(request))
    return ResetStarted(
        detail="If an account with a verified phone or email matches, a code is on its way."
    )


@router.post("/refresh", responses=problem_responses(401, 413, 422))
async def refresh(body: RefreshRequest, state: State, revocations: Revocation) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    return _pair(await service.refresh(state, revocations, body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401))
async def logout(principal: CurrentUser, state: State, revocations: Revocation) -> Response:
    """End this session: its access and refresh tokens stop working."""
    await service.logout(state, revocations, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sessions_router.get("", responses=problem_responses(401))
async def sessions(principal: CurrentUser, state: State) -> SessionList:
    """This user's signed-in devices (API and web sessions), most recently used first."""
    found = await logins.live_sessions(state.okane.uow, principal.user_id)
    return SessionList(
        data=[
            SessionOut(
                id=s.id,
                method=s.method,
                created_at=s.created_at,
                last_used_at=s.refreshed_at,
                expires_at=s.expires_at,
                current=s.id == principal.session_id,
            )
            for s in found
        ]
    )


@sessions_router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422),
)
async def end_session(
    session_id: uuid.UUID, principal: CurrentUser, state: State, revocations: Revocation
) -> Response:
    """Sign out one device: its tokens, cookies and open streams stop working everywhere
    before this answers."""
    await logins.end_own_session(state.okane.uow, principal.user_id, session_id)
    await revocations.publish(principal.user_id, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(413, 422, 429),
)
async def start_password_reset(body: ResetRequest, request: Request, state: State) -> ResetStarted:
    """Ask for a code to set a new password. The answer is the same whether or not an account
    matches: the code goes only to a proven phone or email of a matching account."""
    await service.start_reset(state, login=body.login, client=client_address(request))
    return ResetStarted(
        detail="If an account with a verified phone or email matches, a code is on its way."
    )


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 413, 422, 429, d403="a wrong, used or expired code"),
)
async def confirm_password_reset(
    body: ResetConfirm, request: Request, state: State, revocations: Revocation
) -> Response:
    """Set a new password with the code; every session of the account ends."""
    await service.finish_reset(
        state,
        revocations,
        login=body.login,
        code=body.code,
        new=body.new_password,
        client=client_address(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/google/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=problem_responses(404, d404="Google sign-in is not configured"),
)
async def google_login(request: Request, state: State) -> RedirectResponse:
    """Start Google sign-in (redirects to the provider)."""
    redirect_uri = state.settings.public_url.rstrip("/") + "/v1/auth/google/callback"
    return await oidc.begin(request.app.state.oauth, request, redirect_uri)


@router.get(
    "/google/callback",
    responses=problem_responses(401, 404, d404="Google sign-in is not configured"),
)
async def google_callback(request: Request, state: State) -> TokenPair:
    """Finish Google sign-in: the first one creates the account and wallet."""
    claims = await oidc.complete(request.app.state.oauth, request)
    user = await oidc.user_for(state, claims)
    return _pair(await service.start_session(state, user, method="google"))
