"""Access tokens (short-lived signed JWTs) and refresh tokens (random, stored only as hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from okane_core.errors import AuthenticationFailed

# Verified tokens kept in process: a signature is checked once per token, not once per request.
# An entry says only "this token is genuine and unexpired until its exp"; whether its session
# is still live is asked on every request.
VERIFIED_CACHE_SIZE = 10_000

ISSUER = "okane"
AUDIENCE = "okane-user-api"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the login session the token belongs to, and their role."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    is_admin: bool
    expires_at: int


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenIssuer:
    def __init__(self, secret: str, *, lifetime_seconds: int) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the access-token secret needs at least 32 bytes")
        self._key = OctKey.import_key(secret.encode())
        self._rotation_key = hmac.new(secret.encode(), b"okane-refresh-rotation", "sha256").digest()
        self.lifetime_seconds = lifetime_seconds
        self._claims = JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            sid={"essential": True},
            exp={"essential": True},
        )
        self._verified: dict[str, Principal] = {}

    def next_refresh_token(self, token: str) -> str:
        """The refresh token that replaces ``token``: derived from it with a server key, so a
        retried refresh gets the same one, and nobody without the key can predict it."""
        digest = hmac.new(self._rotation_key, token.encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, *, is_admin: bool) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "sid": str(session_id),
            "adm": is_admin,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        return jwt.encode(
            {"alg": ALGORITHM, "typ": "JWT"}, claims, self._key, algorithms=[ALGORITHM]
        )

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():
                return known
            del self._verified[token]
        principal = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._claims.validate(decoded.claims)
            claims = decoded.claims
            return Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                is_admin=bool(claims.get("adm", False)),
                expires_at=int(claims["exp"]),
            )
        except (JoseError, ValueError, KeyError, TypeError) as error:
            raise AuthenticationFailed("the access token is invalid or expired") from error
