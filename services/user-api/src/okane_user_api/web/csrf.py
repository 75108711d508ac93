"""CSRF protection for every form that changes something (all of them are POSTs).

Synchronizer tokens that need no server-side storage: a form carries
HMAC(key, what the request is bound to). A signed-in request is bound to its session id, so a
token is worthless in another session and dies with its session; a signed-out one (log in,
sign up) is bound to a random HttpOnly cookie of its own, which defeats login CSRF (signing a
victim into the attacker's account). On top of that, a POST whose ``Origin`` header names
another origin is refused outright, and the session cookie is SameSite=Lax.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from okane_core.settings import Settings
from okane_user_api.web.session import WebSession, is_https
from okane_web.security import origin_of

FIELD = "csrf_token"
ANONYMOUS_SECONDS = 24 * 60 * 60


def anonymous_cookie(settings: Settings) -> str:
    return "__Host-okane_anon" if is_https(settings) else "okane_anon"


class CsrfGuard:
    def __init__(self, secret: str, settings: Settings) -> None:
        self._key = hmac.new(secret.encode(), b"okane-web-csrf", hashlib.sha256).digest()
        self._settings = settings
        self._origin = origin_of(settings.public_url)

    def _token(self, binding: str) -> str:
        digest = hmac.new(self._key, binding.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _binding(self, request: Request, session: WebSession | None) -> str | None:
        if session is not None:
            return f"session:{session.id}"
        anonymous = request.cookies.get(anonymous_cookie(self._settings))
        return f"anonymous:{anonymous}" if anonymous else None

    def issue(self, request: Request, session: WebSession | None) -> tuple[str, str | None]:
        """The token to embed in a form, and the anonymous cookie value to set with the page
        when a signed-out visitor has none yet."""
        binding = self._binding(request, session)
        if binding is not None:
            return self._token(binding), None
        value = secrets.token_urlsafe(24)
        return self._token(f"anonymous:{value}"), value

    def remember(self, response: Response, value: str) -> None:
        response.set_cookie(
            anonymous_cookie(self._settings),
            value,
            max_age=ANONYMOUS_SECONDS,
            path="/",
            secure=is_https(self._settings),
            httponly=True,
            samesite="lax",
        )

    def verify(self, request: Request, session: WebSession | None, token: str | None) -> bool:
        origin = request.headers.get("origin")
        if origin is not None and origin != self._origin:
            return False
        binding = self._binding(request, session)
        if binding is None or not token:
            return False
        return hmac.compare_digest(self._token(binding), token)
