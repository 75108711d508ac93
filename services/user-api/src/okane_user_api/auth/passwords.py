"""Password hashing with argon2id at the OWASP parameters (m=19 MiB, t=2, p=1).

Hashing is CPU-bound (tens of milliseconds by design), so it runs in a worker thread and never
blocks the event loop.
"""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


class PasswordHasher:
    def __init__(self) -> None:
        self._hasher = Argon2Hasher(
            time_cost=OWASP_TIME_COST,
            memory_cost=OWASP_MEMORY_KIB,
            parallelism=OWASP_PARALLELISM,
            type=Type.ID,
        )
        # Verified when the login names no user, so both cases cost the same time.
        self._decoy = self._hasher.hash("okane-decoy-password")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash or self._decoy, password) and bool(
                    stored_hash
                )
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check)
