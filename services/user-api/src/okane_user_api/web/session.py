"""Web sessions: the browser holds an opaque credential in an HttpOnly cookie; the server keeps
only its hash, in ``auth_sessions`` next to the API's login sessions.

Why this shape rather than a second session system, or access tokens in the browser:
- one table of sessions means one way to list, expire and revoke them: logging out, or revoking
  a user's sessions, ends web and API sessions alike, and the revocation is immediate because
  every page request checks the row (no token stays valid until it expires);
- nothing usable by script is in the page or in JavaScript-readable storage: the cookie is
  HttpOnly, SameSite=Lax, Secure (with the ``__Host-`` prefix) whenever the public URL is https;
- the credential is hashed with a prefix that contains a NUL character. The API refuses NUL in
  every string, so a web credential can never be presented as an API refresh token (and
  rotated, or exchanged for bearer tokens), and no refresh token can open a web session.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from okane_core.app import logins
from okane_core.ids import new_id
from okane_core.settings import Settings
from okane_core.users.views import UserRecord
from okane_user_api.auth.revocation import Revocations
from okane_user_api.auth.tokens import Principal, hash_refresh_token
from okane_user_api.state import AppState

_DOMAIN = "okane-web\x00"


@dataclass(frozen=True, slots=True)
class WebSession:
    id: uuid.UUID
    user_id: uuid.UUID
    is_admin: bool
    expires_at: int

    @property
    def principal(self) -> Principal:
        """The same caller identity the API's bearer tokens carry."""
        return Principal(self.user_id, self.id, self.is_admin, self.expires_at)


def _hash(credential: str) -> bytes:
    return hash_refresh_token(_DOMAIN + credential)


def is_https(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def cookie_name(settings: Settings) -> str:
    # __Host-: the browser accepts it only with Secure, Path=/ and no Domain.
    return "__Host-okane_session" if is_https(settings) else "okane_session"


async def start(state: AppState, user: UserRecord, *, method: str) -> str:
    """Open a session for ``user``; returns the credential for the cookie."""
    credential = secrets.token_urlsafe(32)
    await logins.open_session(
        state.okane.uow,
        session_id=new_id(),
        user_id=user.id,
        credential_hash=_hash(credential),
        method=f"web-{method}"[:16],
        lifetime_seconds=state.settings.refresh_token_seconds,
    )
    return credential


async def resolve(state: AppState, request: Request) -> WebSession | None:
    credential = request.cookies.get(cookie_name(state.settings))
    if not credential or len(credential) > 128:
        return None
    found = await logins.active_session(state.okane.uow, _hash(credential))
    if found is None:
        return None
    return WebSession(found.id, found.user_id, found.is_admin, int(found.expires_at.timestamp()))


async def end(state: AppState, revocations: Revocations, session: WebSession) -> None:
    await logins.end_session(state.okane.uow, session.id)
    await revocations.publish(session.user_id, session.id)


def set_cookie(response: Response, settings: Settings, credential: str) -> None:
    response.set_cookie(
        cookie_name(settings),
        credential,
        max_age=settings.refresh_token_seconds,
        path="/",
        secure=is_https(settings),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings), path="/", secure=is_https(settings), httponly=True, samesite="lax"
    )
