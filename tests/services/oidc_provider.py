"""A real OpenID Connect provider for the tests, served on loopback.

Discovery document, JWKS, an authorization endpoint that signs in whoever the test says, and a
token endpoint that checks the client secret, single-use codes and the PKCE verifier, then
returns an RS256-signed ID token. ``mode`` makes it misbehave the ways a hostile or broken
provider would (wrong nonce, foreign key, expired, wrong audience).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

from okane_core.localstack import free_port

CLIENT_ID = "okane-test-client"
CLIENT_SECRET = "okane-test-secret"


@dataclass
class Identity:
    sub: str
    email: str
    name: str
    email_verified: bool | str = True  # a string, as a careless provider might send


@dataclass
class ProviderState:
    issuer: str
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    rogue_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"})
    )
    identity: Identity | None = None
    mode: str = "honest"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)


def create_provider(state: ProviderState) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": state.issuer,
            "authorization_endpoint": state.issuer + "/authorize",
            "token_endpoint": state.issuer + "/token",
            "jwks_uri": state.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [state.key.as_dict(private=False, alg="RS256", use="sig")]}

    @app.get("/authorize")
    async def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            raise HTTPException(400, "bad client or response type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            raise HTTPException(400, "PKCE S256 is required")
        if not q.get("nonce") or not q.get("state"):
            raise HTTPException(400, "state and nonce are required")
        assert state.identity is not None, "the test must choose who signs in"
        code = secrets.token_urlsafe(24)
        state.codes[code] = {
            "identity": state.identity,
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
        }
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(target, status_code=302)

    @app.post("/token")
    async def token(
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(),
    ) -> JSONResponse:
        if not _client_authenticated(request, await request.form()):
            return JSONResponse({"error": "invalid_client"}, 401)
        if (
            grant_type != "authorization_code"
            or code in state.used_codes
            or code not in state.codes
        ):
            return JSONResponse({"error": "invalid_grant"}, 400)
        state.used_codes.add(code)
        grant = state.codes.pop(code)
        digest = hashlib.sha256(code_verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        if redirect_uri != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        identity: Identity = grant["identity"]
        now = int(time.time())
        claims = {
            "iss": state.issuer,
            "aud": CLIENT_ID,
            "sub": identity.sub,
            "email": identity.email,
            "email_verified": identity.email_verified,
            "name": identity.name,
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 600,
        }
        key = state.key
        if state.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif state.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif state.mode == "wrong_audience":
            claims["aud"] = "someone-else"
        elif state.mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        elif state.mode == "bad_signature":
            key = state.rogue_key
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 600,
                "id_token": id_token,
            }
        )

    return app


def _client_authenticated(request: Request, form: Any) -> bool:
    header = request.headers.get("authorization", "")
    if header.startswith("Basic "):
        decoded = base64.b64decode(header[6:]).decode()
        return decoded == f"{CLIENT_ID}:{CLIENT_SECRET}"
    return bool(form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET)


class RunningProvider:
    def __init__(self) -> None:
        port = free_port()
        self.state = ProviderState(issuer=f"http://127.0.0.1:{port}")
        config = uvicorn.Config(
            create_provider(self.state), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningProvider:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the OIDC provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
