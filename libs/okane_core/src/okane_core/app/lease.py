"""The trust lease: when a process may serve a read from Redis, and which sessions have ended.

Every change of a wallet or a profile writes a ``cache_outbox`` row in its own transaction. A
process serves from Redis only while it holds a lease, renewed from PostgreSQL every
``seconds / 4`` and valid for ``seconds`` from the moment the renewal was *sent*; each renewal
returns the pending rows, and a cached entry older than a pending version of its user is not
trusted (the reader goes to PostgreSQL). A writer whose invalidation Redis did not confirm
waits ``seconds`` before it answers. So when the client reads after that answer, every process
that still serves from Redis renewed after the commit and knows the row: no process serves an
entry older than an acknowledged write, whatever Redis did (failed one write, refused writes,
hung, restarted empty) and whichever process wrote (also one killed after its COMMIT).

Rows older than a lease are drained by every process: claimed (``FOR UPDATE SKIP LOCKED``),
tombstoned in Redis, deleted once Redis confirmed (younger ones are left to their writer).
More than ``pending_limit`` pending users (a flood during an outage) and the process serves
nothing from Redis until the backlog is drained.

The same renewal brings the sessions revoked since the last one, so an access token's session is
checked without a query per request, and a logout waits one lease before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence

from okane_core.cache import keys, outbox
from okane_core.cache.store import VersionedStore
from okane_core.db.engine import SessionFactory
from okane_core.observability import metrics
from okane_core.tasks import stop_surely
from okane_core.users import auth_sessions

log = logging.getLogger(__name__)

# Revocations are read again for this long before the last renewal, so a revocation whose
# transaction began earlier (its revoked_at is its start) but committed later is not missed.
REVOCATION_MARGIN = 120.0


def _entries(rows: Iterable[outbox.Pending]) -> list[tuple[str, int]]:
    """The cache entries the pending rows make stale, each with its pending version."""
    return [e for row in rows for e in keys.entries(row.user_id, row.kind, row.version)]


async def epoch_for_fills(
    sessions: SessionFactory, store: VersionedStore, *, pending_limit: int = 1000
) -> bytes | None:
    """The epoch a process without a lease (a warm run) fills under, started if Redis has
    none, after every pending invalidation, as a lease renewal would."""
    async with sessions() as session:
        found = await outbox.pending(session, limit=pending_limit + 1)
    return await store.renew_epoch(None if len(found) > pending_limit else _entries(found))


class TrustLease:
    def __init__(
        self,
        sessions: SessionFactory,
        store: VersionedStore | None,
        *,
        seconds: float,
        session_window: float,
        pending_limit: int = 1000,
        drain_limit: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.seconds = seconds
        self.interval = seconds / 4
        self.session_window = session_window
        self.pending_limit = pending_limit
        self.drain_limit = drain_limit
        self._clock = clock
        self._until = -math.inf
        self._renewed_at = -math.inf
        self._pending: dict[tuple[uuid.UUID, str], int] = {}
        self._overflow = False
        self._revoked: dict[uuid.UUID, float] = {}
        self._task: asyncio.Task[None] | None = None

    # --- what readers ask -----------------------------------------------------------------

    def valid(self) -> bool:
        return self._clock() < self._until

    def serves_cache(self) -> bool:
        """Whether this process may serve reads from Redis now."""
        return (
            self.store is not None
            and self.store.epoch is not None
            and not self._overflow
            and self.valid()
        )

    def trusts(self, user_id: uuid.UUID, what: str, version: int) -> bool:
        """Whether a cached entry ``what`` (``keys.BALANCE``, ...) of this user at ``version``
        may be served: the lease holds and no newer change of it is pending."""
        pending = self._pending.get((user_id, keys.KIND_OF_ENTRY[what]), 0)
        return version >= pending and self.serves_cache()

    def revoked(self, session_id: uuid.UUID) -> bool | None:
        """Whether this session was revoked; None when the lease lapsed (ask PostgreSQL)."""
        if not self.valid():
            return None
        return session_id in self._revoked

    async def settle_pending(self, pending: Sequence[outbox.Pending]) -> None:
        """Before a replayed answer leaves: the original write may have been answered by no
        one (its process died after COMMIT), so its invalidations may still be ``pending``
        (the transfer function reports them). Unless Redis already holds every entry at that
        version or newer, wait one lease, as its writer would have."""
        if not pending:
            return
        if self.store is not None and await self.store.holds(_entries(pending)):
            return
        metrics.CACHE_DELAYED_ANSWERS.inc()
        await asyncio.sleep(self.seconds)

    # --- renewal --------------------------------------------------------------------------

    async def renew(self) -> None:
        """One renewal: the pending invalidations and the revocations since the last one, then
        the cache's epoch, then drain what is pending."""
        sent = self._clock()
        window = min(self.session_window, sent - self._renewed_at + REVOCATION_MARGIN)
        async with self.sessions() as session:
            found = await outbox.pending(session, limit=self.pending_limit + 1)
            db_now, revoked = await auth_sessions.revoked_since(session, window)
        overflow = len(found) > self.pending_limit
        pending = {(row.user_id, row.kind): row.version for row in found}
        self._revoked.update(revoked)
        for session_id, at in list(self._revoked.items()):
            if at < db_now - self.session_window:
                del self._revoked[session_id]
        self._pending, self._overflow = pending, overflow
        self._renewed_at = sent
        self._until = sent + self.seconds
        metrics.CACHE_OUTBOX_PENDING.set(len(found))
        if self.store is not None:
            await self.store.renew_epoch(None if overflow else _entries(found))
        if found:
            await self.drain()

    async def drain(self, *, batches: int = 10) -> int:
        """Tombstone and delete pending rows, ``drain_limit`` at a time, at most ``batches``
        times; returns how many."""
        drained = 0
        for _ in range(batches):
            done = await self._drain_one()
            drained += done
            if done < self.drain_limit:
                break
        return drained

    async def _drain_one(self) -> int:
        async with self.sessions() as session:
            # A younger row's writer may still confirm and delete it (the transfer batcher
            # does, in its next call); one older than a lease was not confirmed in time.
            rows = await outbox.claim(session, limit=self.drain_limit, older_than=self.seconds)
            confirmed = self.store is None or await self.store.invalidate(_entries(rows))
            if not confirmed:
                await session.rollback()  # the rows stay for the next drain
                return 0
            await session.commit()
        return len(rows)

    # --- the background task --------------------------------------------------------------

    async def start(self) -> None:
        """Renew once (so a process serves from Redis from its first request), then keep
        renewing in the background."""
        if self._task is None:
            with contextlib.suppress(Exception):
                await self.renew()
            self._task = asyncio.create_task(self._run(), name="okane-trust-lease")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_surely(self._task)
            self._task = None

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.renew()
            except Exception as error:  # noqa: BLE001 - the lease lapses; reads go to PostgreSQL
                metrics.CACHE_LEASE_RENEWALS.labels("failed").inc()
                if not failing:
                    log.warning("trust lease renewal failed: %s", error)
                failing = True
            else:
                metrics.CACHE_LEASE_RENEWALS.labels("ok").inc()
                if failing:
                    log.info("trust lease renewed again")
                failing = False
            await asyncio.sleep(self.interval)
