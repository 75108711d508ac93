"""Google sign-in: OpenID Connect authorization code flow with state, nonce and PKCE (S256),
through Authlib. The issuer is configuration, so any OIDC provider works (tests run a real one
on loopback). Authlib keeps state, nonce and the PKCE verifier in a short-lived signed cookie
and checks the ID token's signature (JWKS), issuer, audience, expiry and nonce.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse

from okane_core.app import profiles
from okane_core.errors import AuthenticationFailed, NotFound
from okane_core.settings import Settings
from okane_core.users.views import UserRecord
from okane_user_api.state import AppState

log = logging.getLogger(__name__)

PROVIDER = "google"


def create_oauth(settings: Settings) -> OAuth | None:
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    return oauth


def _client(oauth: OAuth | None) -> Any:
    if oauth is None:
        raise NotFound("Google sign-in is not configured")
    return oauth.create_client(PROVIDER)


async def begin(oauth: OAuth | None, request: Request, redirect_uri: str) -> RedirectResponse:
    response: RedirectResponse = await _client(oauth).authorize_redirect(request, redirect_uri)
    return response


async def complete(oauth: OAuth | None, request: Request) -> dict[str, Any]:
    """The verified ID token claims of the provider's callback."""
    client = _client(oauth)
    if "error" in request.query_params:
        raise AuthenticationFailed(f"sign-in was refused: {request.query_params['error']}")
    try:
        token = await client.authorize_access_token(request)
    except (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError) as error:
        log.info("OIDC callback refused: %r", error)
        raise AuthenticationFailed("Google sign-in could not be verified") from error
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise AuthenticationFailed("Google sign-in returned no identity")
    return dict(claims)


async def user_for(state: AppState, claims: dict[str, Any]) -> UserRecord:
    """The OKANE user for a verified Google identity: found by subject, linked by a verified
    email, or created with a wallet on first sign-in."""
    subject = str(claims["sub"])
    # Strictly the JSON value true: a provider sending "false" (a string) has not verified it.
    verified = claims.get("email_verified") is True and bool(claims.get("email"))
    email = str(claims["email"]).lower() if verified else None
    name = str(claims.get("name") or (email or "OKANE user").split("@")[0])

    return await profiles.google_user(
        state.okane,
        subject=subject,
        email=email,
        name=name,
    )
