"""Request dependencies: the app state and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from okane_core.app import admin
from okane_core.errors import AuthenticationFailed, PermissionDenied
from okane_user_api.auth.revocation import Revocations
from okane_user_api.auth.tokens import Principal
from okane_user_api.state import AppState, get_state

bearer = HTTPBearer(auto_error=False, description="an access token from /v1/auth/login")

State = Annotated[AppState, Depends(get_state)]


def revocations_of(request: Request) -> Revocations:
    revocations: Revocations = request.app.state.revocations
    return revocations


async def get_revocations(request: Request) -> Revocations:
    return revocations_of(request)  # a dependency: async, so no worker-thread hop


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    state: State,
) -> Principal:
    if credentials is None:
        raise AuthenticationFailed("a bearer access token is required")
    return await live(request, verified(credentials.scheme, credentials.credentials, state))


async def token_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)], state: State
) -> Principal:
    """The caller of a genuine, unexpired token, for endpoints whose use case checks the
    session itself in its own database round trip (money movements): no separate revocation
    call. (The money routes resolve it with ``bearer_principal``, see ``wallet/route.py``.)"""
    if credentials is None:
        raise AuthenticationFailed("a bearer access token is required")
    return verified(credentials.scheme, credentials.credentials, state)


def verified(scheme: str, token: str, state: AppState) -> Principal:
    """The caller of a genuine, unexpired bearer token."""
    if not (scheme and token) or scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer access token is required")
    return state.tokens.verify(token)


def bearer_principal(authorization: str | None, state: AppState) -> Principal:
    """``verified`` of an ``Authorization`` header, read as ``bearer`` reads it."""
    return verified(*get_authorization_scheme_param(authorization), state)


async def live(request: Request, principal: Principal) -> Principal:
    """``principal``, once its session is known not to be revoked."""
    if await revocations_of(request).is_revoked(principal.user_id, principal.session_id):
        raise AuthenticationFailed("this session has ended; log in again")
    return principal


async def admin_principal(
    principal: Annotated[Principal, Depends(current_principal)], state: State
) -> Principal:
    """The role as PostgreSQL has it now, not as the token says: a revoked admin's token stops
    working at once."""
    if not await admin.is_admin(state.okane, principal.user_id):
        raise PermissionDenied("this needs the admin role")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
TokenUser = Annotated[Principal, Depends(token_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
Revocation = Annotated[Revocations, Depends(get_revocations)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
